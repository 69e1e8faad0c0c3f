"""A run whose training finished but whose final evaluation failed is finished by
``probmoll train --resume RUN eval.KEY=VALUE``: straight to the evaluation, the weights
untouched, no training step.

The failure is a real one: a corruption set in the Tiny-ImageNet-C layout whose folders
are all there (what is checked before training) but whose JPEG cannot be decoded (which
only the evaluation does).
"""

import shutil

import pytest

from probmoll.train.config import ConfigError, load_config, load_resume_config
from probmoll.train.engine import FinalEvaluationError, main
from tests.helpers import probmoll, read_json
from tests.train.helpers import TEST_IMAGES, train, write_cifar_c

EVAL = ["eval.names=[gaussian_noise]", "eval.severities=[1]"]


def write_undecodable_set(folder):
    """Tiny-ImageNet-C layout, one class folder, one 'JPEG' that is not an image."""
    cell = folder / "gaussian_noise" / "1" / "n0001"
    cell.mkdir(parents=True)
    (cell / "broken.JPEG").write_bytes(b"these bytes are no JPEG")
    return folder


@pytest.fixture(scope="module")
def failed_run(tmp_path_factory):
    """A run trained to the end whose final evaluation failed, and a good corruption set."""
    base = tmp_path_factory.mktemp("failed")
    broken = write_undecodable_set(base / "broken-set")
    good = write_cifar_c(base / "good-set")
    run_dir = base / "run"
    result = train(run_dir, "epochs=1", f"eval.corruptions={broken}", *EVAL)
    return run_dir, broken, good, result


def copy_of(failed_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(failed_run[0], run_dir)
    return run_dir


def files_of(run_dir, *names):
    return {name: (run_dir / name).read_bytes() for name in names}


def test_a_failed_final_evaluation_is_recorded(failed_run):
    run_dir, broken, _, result = failed_run
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "final evaluation failed" in lines[0] and "broken.JPEG" in lines[0]
    assert f"probmoll train --resume {run_dir}" in lines[0]
    info = read_json(run_dir / "run.json")
    assert info["status"] == "evaluation_failed"
    assert "broken.JPEG" in info["error"]
    assert info["steps"] == 8 and info["epochs_completed"] == 1
    assert (run_dir / "checkpoint.pt").is_file()
    assert not (run_dir / "metrics.json").exists()


def test_resume_with_an_eval_override_finishes_without_training(failed_run, tmp_path):
    _, _, good, _ = failed_run
    run_dir = copy_of(failed_run, tmp_path)
    kept = ("checkpoint.pt", "log.jsonl", "log.csv")
    before = files_of(run_dir, *kept)

    result = probmoll("train", "--resume", str(run_dir), f"eval.corruptions={good}")
    assert result.returncode == 0, result.stderr
    assert "train loss" not in result.stdout  # no epoch was trained
    assert files_of(run_dir, *kept) == before  # the weights and the log are untouched
    metrics = read_json(run_dir / "metrics.json")
    assert metrics["clean"]["count"] == TEST_IMAGES
    assert metrics["corrupted"]["mean"]["count"] == TEST_IMAGES
    assert metrics["run"]["steps"] == 8
    info = read_json(run_dir / "run.json")
    assert info["status"] == "finished" and info["resumed"] == 1 and "error" not in info
    # The run's configuration now says how it was evaluated.
    assert load_config(run_dir / "config.yaml").eval.corruptions == str(good)


def test_resume_refuses_overrides_of_what_is_trained(failed_run, tmp_path):
    run_dir = copy_of(failed_run, tmp_path)
    result = probmoll("train", "--resume", str(run_dir), "optim.lr=0.5", "eval.subset=8")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "optim.lr" in lines[0] and "eval.subset" not in lines[0]
    assert "eval.*, threads, device, progress" in lines[0]
    assert read_json(run_dir / "run.json")["status"] == "evaluation_failed"


def test_resume_in_process(failed_run, tmp_path):
    # The library route of the same: load_resume_config + main(resume=True).
    _, _, good, _ = failed_run
    run_dir = copy_of(failed_run, tmp_path)
    checkpoint = files_of(run_dir, "checkpoint.pt")
    with pytest.raises(ConfigError, match=r"eval\.\*, threads, device, progress"):
        load_resume_config(run_dir, ["model.kwargs.width=8"])
    # Without a fix the evaluation fails again, and nothing else happens.
    with pytest.raises(FinalEvaluationError, match="broken.JPEG"):
        main(load_resume_config(run_dir), resume=True)
    assert read_json(run_dir / "run.json")["status"] == "evaluation_failed"
    config = load_resume_config(run_dir, [f"eval.corruptions={good}", "threads=1"])
    results = main(config, resume=True)
    assert results["corrupted"]["mean"]["count"] == TEST_IMAGES
    assert files_of(run_dir, "checkpoint.pt") == checkpoint
    assert read_json(run_dir / "run.json")["status"] == "finished"
