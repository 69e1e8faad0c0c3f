"""Never lose work: SIGKILL and SIGTERM mid-epoch, then ``--resume``, end where an
uninterrupted run ends (same weights bit for bit, same metrics; CPU, deterministic)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from probmoll.cli import main as probmoll_main
from probmoll.train.config import load_config
from probmoll.train.engine import Trainer, TrainingInterrupted, main
from tests.helpers import (
    REPO,
    TINY,
    assert_same_weights,
    load_checkpoint_state,
    metric_sections,
    read_json,
    subprocess_env,
)

# 3 epochs of 8 steps, a checkpoint after every step.
RUN = [*TINY, "epochs=3", "checkpoint_every_steps=1"]
TOTAL_STEPS = 3 * 8


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run."""
    run_dir = tmp_path_factory.mktemp("reference") / "run"
    main(load_config(None, [*RUN, f"out={run_dir}"]))
    return run_dir


def start(run_dir, *overrides):
    return subprocess.Popen(
        [sys.executable, "-m", "probmoll", "train", *RUN, f"out={run_dir}", *overrides],
        cwd=REPO,
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(path, process, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.001)


def log_rows(run_dir):
    rows = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    for row in rows:
        row.pop("images_per_s")  # timing
    return rows


def assert_same_run(run_dir, reference_dir):
    final, expected = load_checkpoint_state(run_dir), load_checkpoint_state(reference_dir)
    assert final["step"] == expected["step"] == TOTAL_STEPS
    assert_same_weights(final["model_state"], expected["model_state"])
    for a, b in zip(
        final["optimizer"]["state"].values(), expected["optimizer"]["state"].values(), strict=True
    ):
        assert_same_weights(a, b)
    assert metric_sections(read_json(run_dir / "metrics.json")) == metric_sections(
        read_json(reference_dir / "metrics.json")
    )
    assert log_rows(run_dir) == log_rows(reference_dir)
    assert read_json(run_dir / "run.json")["status"] == "finished"


@pytest.mark.parametrize("every", [1, 0], ids=["mid-epoch", "epoch-end"])
def test_resume_after_sigkill_is_exact(tmp_path, reference, every):
    # every=1: the first checkpoint is written after step 1, in the middle of epoch 1;
    # every=0: checkpoints are only written at epoch ends.
    run_dir = tmp_path / "run"
    process = start(run_dir, f"checkpoint_every_steps={every}")
    wait_for(run_dir / "checkpoint.pt", process)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate()
    assert process.returncode == -signal.SIGKILL
    killed = load_checkpoint_state(run_dir)
    assert 1 <= killed["step"] < TOTAL_STEPS
    assert (killed["step_in_epoch"] == 0) == (every == 0)
    assert read_json(run_dir / "run.json")["status"] == "running"  # it never got to say more

    # The folder may move (e.g. copied off a cluster); it is resumed where it is now, in
    # this process (a fresh one costs seconds of imports on a busy machine).
    moved = tmp_path / "moved"
    shutil.move(run_dir, moved)
    assert probmoll_main(["train", "--resume", str(moved)]) == 0
    assert_same_run(moved, reference)
    assert read_json(moved / "run.json")["resumed"] == 1
    assert load_config(moved / "config.yaml").out == str(moved)
    assert not run_dir.exists()


def test_sigterm_writes_a_checkpoint_and_resume_is_exact(tmp_path, reference, capsys):
    run_dir = tmp_path / "run"
    process = start(run_dir)
    wait_for(run_dir / "run.json", process)  # the signal handlers are installed
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "SIGTERM" in stderr and "--resume" in stderr
    stopped = load_checkpoint_state(run_dir)
    assert 1 <= stopped["step"] < TOTAL_STEPS
    assert read_json(run_dir / "run.json")["status"] == "interrupted"

    # Anything but --resume/--overwrite is refused: the run is unfinished.
    assert probmoll_main(["train", *RUN, f"out={run_dir}"]) == 2
    assert "--resume" in capsys.readouterr().err

    assert probmoll_main(["train", "--resume", str(run_dir)]) == 0
    assert_same_run(run_dir, reference)


@pytest.mark.parametrize(
    "signum,at_step",
    [(signal.SIGTERM, 8), (signal.SIGINT, TOTAL_STEPS)],
    ids=["first-epoch-end", "last-step-of-run"],
)
def test_stop_on_an_epochs_last_step_keeps_its_log_row(
    tmp_path, reference, monkeypatch, signum, at_step
):
    # The signal lands during the last step of an epoch (8 steps per epoch): the epoch's
    # log row and evaluation are written before the run stops, and --resume goes on
    # from the epoch's end (after the last epoch: with the final evaluation).
    train_step = Trainer.train_step

    def signalling_step(trainer, images, labels):
        train_step(trainer, images, labels)
        if trainer.step == at_step:
            signal.raise_signal(signum)

    monkeypatch.setattr(Trainer, "train_step", signalling_step)
    run_dir = tmp_path / "run"
    with pytest.raises(TrainingInterrupted, match=signal.Signals(signum).name):
        main(load_config(None, [*RUN, f"out={run_dir}"]))
    monkeypatch.undo()
    stopped = load_checkpoint_state(run_dir)
    epochs_done = at_step // 8
    assert (stopped["step"], stopped["epoch"], stopped["step_in_epoch"]) == (
        at_step,
        epochs_done,
        0,
    )
    assert log_rows(run_dir) == log_rows(reference)[:epochs_done]
    assert read_json(run_dir / "run.json")["status"] == "interrupted"
    assert not (run_dir / "metrics.json").exists()

    assert probmoll_main(["train", "--resume", str(run_dir)]) == 0
    assert_same_run(run_dir, reference)
