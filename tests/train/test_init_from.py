"""model.init_from: fine-tuning starts from a run's weights; only another head is fresh;
a resumed run restores its own checkpoint."""

import shutil
import signal

import pytest
import torch

from probmoll.cli import main as probmoll_main
from probmoll.models import create_model
from probmoll.train.config import ConfigError, load_config, load_resume_config
from probmoll.train.distributed import DistributedContext
from probmoll.train.engine import Trainer, TrainingInterrupted, load_data, main
from tests.helpers import TINY, assert_same_weights, load_checkpoint_state, read_json

CPU = torch.device("cpu")


def tiny(run_dir, *overrides):
    return load_config(None, [*TINY, f"out={run_dir}", *overrides])


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A finished tiny run (4 classes): the weights to start from."""
    run_dir = tmp_path_factory.mktemp("source") / "run"
    main(tiny(run_dir))
    return run_dir


def built_trainer(config):
    return Trainer(config, load_data(config, CPU, DistributedContext()), CPU, DistributedContext())


def test_training_starts_from_the_weights_of_the_run(source, tmp_path):
    weights = load_checkpoint_state(source)["model_state"]
    config = tiny(tmp_path / "tuned", f"model.init_from={source}", "seed=5")
    trainer = built_trainer(config)
    # Before the first step: the source's weights and BatchNorm statistics, not seed 5's.
    assert_same_weights(trainer.model.state_dict(), weights)
    assert trainer.initialized_from["reinitialized"] == []

    results = main(config)
    record = read_json(tmp_path / "tuned" / "run.json")["init_from"]
    assert record["kind"] == "checkpoint" and record["step"] == 16
    assert record["source"] == str((source / "checkpoint.pt").resolve())
    assert results["run"]["init_from"] == record
    assert read_json(tmp_path / "tuned" / "metrics.json")["run"]["init_from"] == record
    # Without init_from the record says so.
    assert read_json(source / "run.json")["init_from"] is None


def test_another_number_of_classes_starts_only_the_head_afresh(source, tmp_path, capsys):
    weights = load_checkpoint_state(source)["model_state"]
    options = "data.options={n: 256, num_classes: 3}"
    trainer = built_trainer(tiny(tmp_path / "three", f"model.init_from={source}", options))
    notice = capsys.readouterr().err
    assert "has 4 classes" in notice and "(fc.bias, fc.weight) starts from a fresh" in notice
    state = trainer.model.state_dict()
    for key, value in weights.items():
        if not key.startswith("fc."):
            assert torch.equal(state[key], value), key
    # The head is the one the seed gives a 3-class model, as without init_from.
    torch.manual_seed(0)
    fresh = create_model("preact_resnet18", 3, 3, 32, width=4).state_dict()
    assert torch.equal(state["fc.weight"], fresh["fc.weight"])
    assert torch.equal(state["fc.bias"], fresh["fc.bias"])
    assert trainer.initialized_from["reinitialized"] == ["fc.bias", "fc.weight"]


def test_other_weights_that_do_not_fit_fail_before_training(source, tmp_path):
    config = tiny(tmp_path / "wide", f"model.init_from={source}", "model.kwargs={width: 8}")
    with pytest.raises(ConfigError, match=r"model.init_from = .*shapes differ for stem.weight"):
        main(config)
    assert not (tmp_path / "wide" / "run.json").exists()  # no run was started


@pytest.mark.parametrize(
    "source,match",
    [
        ("missing/run", "neither a file or run folder nor a torchvision weights name"),
        ("ResNet50_Weights.NOPE", "not a torchvision weights name"),
    ],
)
def test_missing_weights_are_a_config_error(tmp_path, source, match):
    with pytest.raises(ConfigError, match=rf"model.init_from = '{source}': .*{match}"):
        tiny(tmp_path / "run", f"model.init_from={source}")


def test_an_empty_folder_is_a_config_error(tmp_path, capsys):
    args = ["train", *TINY, f"out={tmp_path / 'run'}", f"model.init_from={tmp_path}"]
    assert probmoll_main(args) == 2
    assert "holds no checkpoint.pt" in capsys.readouterr().err


def test_resume_restores_its_own_checkpoint_not_init_from(source, tmp_path, monkeypatch):
    start = tmp_path / "start"
    shutil.copytree(source, start)
    run_dir = tmp_path / "run"
    train_step = Trainer.train_step

    def stop_after_step_5(trainer, images, labels):
        train_step(trainer, images, labels)
        if trainer.step == 5:
            signal.raise_signal(signal.SIGTERM)

    monkeypatch.setattr(Trainer, "train_step", stop_after_step_5)
    with pytest.raises(TrainingInterrupted):
        main(tiny(run_dir, f"model.init_from={start}", "checkpoint_every_steps=0"))
    monkeypatch.undo()
    stopped = load_checkpoint_state(run_dir)
    assert stopped["step"] == 5
    # The weights the run started from are gone: the resumed run does not need them.
    shutil.rmtree(start)
    config = load_resume_config(run_dir)
    assert config.model.init_from == str(start)
    assert main(config, resume=True)["run"]["steps"] == 16
    assert read_json(run_dir / "run.json")["init_from"]["source"].startswith(str(start))
