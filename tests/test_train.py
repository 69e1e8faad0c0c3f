"""The training engine and ``probmoll train``: outputs, mollification, precision, failures."""

import csv
import math

import pytest
import torch
from test_train_support import (
    SMOKE,
    TINY,
    assert_same_weights,
    load_checkpoint_state,
    probmoll,
    read_json,
)

from probmoll.cli import main as probmoll_main
from probmoll.evaluate import evaluate_model
from probmoll.metrics import ClassificationMetrics
from probmoll.models import load_checkpoint, model_from_checkpoint
from probmoll.train.config import ConfigError, load_config
from probmoll.train.distributed import DistributedContext
from probmoll.train.engine import (
    NonFiniteLossError,
    Trainer,
    WarmupCosine,
    evaluate,
    load_data,
    main,
    standardize,
)


def tiny_config(tmp_path, *overrides, name="run"):
    return load_config(None, [*TINY, f"out={tmp_path / name}", *overrides])


def test_command_line_trains_and_evaluates(tmp_path):
    run_dir = tmp_path / "smoke"
    overrides = [f"out={run_dir}", "threads=1", "progress=false", f"data.cache_dir={tmp_path}"]
    result = probmoll("train", "--config", str(SMOKE), *overrides)
    assert result.returncode == 0, result.stderr

    # config.yaml is the resolved configuration and reproduces the run.
    config = load_config(run_dir / "config.yaml")
    assert config == load_config(SMOKE, overrides)

    # checkpoint.pt: a probmoll checkpoint with the whole training state.
    checkpoint = load_checkpoint(run_dir)
    steps_per_epoch = 1024 // config.batch_size
    assert checkpoint["step"] == config.epochs * steps_per_epoch
    assert (checkpoint["epoch"], checkpoint["step_in_epoch"]) == (config.epochs, 0)
    for key in ("optimizer", "scheduler", "rng", "data_order_state", "config"):
        assert checkpoint[key] is not None, key
    assert checkpoint["rng"][0]["augment"].dtype == torch.uint8
    model, info = model_from_checkpoint(checkpoint)
    assert info["num_classes"] == 10 and info["model_name"] == "preact_resnet18"

    # log.jsonl / log.csv: one row per epoch, the same rows.
    rows = [read_json_line(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == list(range(config.epochs))
    assert [row["step"] for row in rows] == [
        steps_per_epoch * (e + 1) for e in range(config.epochs)
    ]
    for row in rows:
        for key in ("lr", "train_loss", "train_error", "images_per_s", "test_error", "test_nll"):
            assert math.isfinite(row[key]), key
        assert 0 <= row["train_error"] <= 1 and 0 <= row["test_error"] <= 1
    with (run_dir / "log.csv").open() as handle:
        table = list(csv.DictReader(handle))
    assert [float(r["train_loss"]) for r in table] == [row["train_loss"] for row in rows]
    assert rows[-1]["lr"] == pytest.approx(config.schedule.min_lr, abs=1e-12)  # cosine end

    # metrics.json: clean and corrupted results plus the provenance of the run.
    metrics = read_json(run_dir / "metrics.json")
    assert metrics["clean"]["count"] == config.eval.subset
    assert metrics["corrupted"]["mean"]["count"] == 3 * 2 * config.eval.subset
    assert metrics["run"]["seed"] == config.seed
    assert "git_commit" in metrics["run"] and metrics["run"]["packages"]["torch"]
    run_info = read_json(run_dir / "run.json")
    assert run_info["status"] == "finished" and run_info["wall_time_s"] > 0
    assert run_info["device"]["type"] == "cpu" and run_info["config"]["seed"] == config.seed

    # `probmoll evaluate` accepts the run folder and measures the same clean metrics:
    # the final report saw the plain test images, not mollified ones.
    status = probmoll_main(
        [
            "evaluate",
            "--checkpoint",
            str(run_dir),
            "--subset",
            str(config.eval.subset),
            "--out",
            str(tmp_path / "evaluation"),
            "--no-plots",
            "--no-progress",
            "--device",
            "cpu",
        ]
    )
    assert status == 0
    assert read_json(tmp_path / "evaluation" / "metrics.json")["clean"] == metrics["clean"]
    # ... and the last per-epoch test error is that of the final weights.
    assert rows[-1]["test_error"] == metrics["clean"]["error"]


def read_json_line(line):
    import json

    return json.loads(line)


def test_mollification_touches_training_batches_only(tmp_path):
    # Every training image is noised, so training inputs differ from the clean ones,
    # while evaluation scores exactly the standardised clean images.
    config = tiny_config(
        tmp_path, "augment.policy=none", "mollify.enabled=true", "mollify.roles=[noise]"
    )
    data = load_data(config, torch.device("cpu"), DistributedContext())
    trainer = Trainer(config, data, torch.device("cpu"), DistributedContext())
    images, labels = next(iter(trainer.epoch_batches()))
    inputs, targets, hard_labels = trainer.prepare_batch(images, labels)
    clean = standardize(images, data.mean, data.std)
    assert inputs.shape == clean.shape
    assert not torch.allclose(inputs, clean)
    assert targets.shape == (labels.shape[0], 4)  # smoothed soft targets
    assert torch.all(targets.max(dim=1).values < 1)
    assert torch.equal(hard_labels, labels)

    model = trainer.eval_model
    got = evaluate(
        model, data.test_images, data.test_labels, data.mean, data.std, num_classes=4, batch_size=7
    )
    model.eval()
    expected = ClassificationMetrics(num_classes=4)
    with torch.no_grad():
        expected.update(model(standardize(data.test_images, data.mean, data.std)), data.test_labels)
    for key, value in expected.compute().items():
        assert got[key] == pytest.approx(value, rel=1e-6, abs=1e-9), key


def test_mollification_off_leaves_the_standardised_batch(tmp_path):
    config = tiny_config(tmp_path, "augment.policy=none", "mollify.enabled=false")
    data = load_data(config, torch.device("cpu"), DistributedContext())
    trainer = Trainer(config, data, torch.device("cpu"), DistributedContext())
    images, labels = next(iter(trainer.epoch_batches()))
    inputs, targets, _ = trainer.prepare_batch(images, labels)
    assert torch.equal(inputs, standardize(images, data.mean, data.std))
    assert torch.equal(targets, labels)


def test_epoch_permutation_covers_the_training_set_once(tmp_path):
    config = tiny_config(tmp_path, "augment.policy=none")
    data = load_data(config, torch.device("cpu"), DistributedContext())
    trainer = Trainer(config, data, torch.device("cpu"), DistributedContext())
    epochs = [list(trainer.epoch_batches()) for _ in range(2)]
    for batches in epochs:
        assert len(batches) == trainer.steps_per_epoch == 256 // 32
        images = torch.cat([images.flatten(1) for images, _ in batches])
        assert torch.unique(images, dim=0).shape[0] == 256  # each image exactly once
    labels = [torch.cat([labels for _, labels in batches]) for batches in epochs]
    assert not torch.equal(*labels)  # a new order every epoch


def test_finished_run_is_never_overwritten(tmp_path, capsys):
    config = tiny_config(tmp_path, "epochs=1", "eval.every_epochs=0")
    main(config)
    run_dir = tmp_path / "run"
    before = (run_dir / "checkpoint.pt").read_bytes()
    args = ["train", *TINY, f"out={run_dir}", "epochs=1", "eval.every_epochs=0"]

    assert probmoll_main(args) == 2
    error = capsys.readouterr().err
    assert "finished run" in error and "--overwrite" in error
    assert (run_dir / "checkpoint.pt").read_bytes() == before

    assert probmoll_main(["train", "--resume", str(run_dir)]) == 0
    assert "nothing to do" in capsys.readouterr().err
    assert (run_dir / "checkpoint.pt").read_bytes() == before

    assert probmoll_main([*args, "--overwrite"]) == 0
    assert read_json(run_dir / "run.json")["status"] == "finished"


def test_unfinished_run_needs_resume_or_overwrite(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text("out: elsewhere\n")
    assert probmoll_main(["train", *TINY, f"out={run_dir}"]) == 2
    assert "--resume" in capsys.readouterr().err
    assert (run_dir / "config.yaml").read_text() == "out: elsewhere\n"


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, capsys):
    run_dir = tmp_path / "run"
    args = [*TINY, f"out={run_dir}", "optim.lr=1e4", "checkpoint_every_steps=1", "log_every=1"]
    assert probmoll_main(["train", *args]) == 1
    message = capsys.readouterr().err
    assert "non-finite" in message and "optim.lr" in message
    failed_at = int(message.split("by step ")[1].split()[0])
    state = load_checkpoint_state(run_dir)
    assert 1 <= state["step"] < failed_at
    for name, tensor in state["model_state"].items():
        if tensor.is_floating_point():
            assert torch.isfinite(tensor).all(), name
    assert read_json(run_dir / "run.json")["status"] == "failed"
    with pytest.raises(NonFiniteLossError):
        main(load_config(None, [*args, f"out={tmp_path / 'again'}"]))
    # Resuming the failed run with another learning rate is refused, naming the key.
    with pytest.raises(ConfigError, match="optim.lr"):
        main(load_config(None, [*args, "optim.lr=0.01"]), resume=True)


def test_likelihood_samples_and_mixing(tmp_path):
    # K = 2 copies per image: batch_size / K distinct images per step; MixUp soft targets.
    config = tiny_config(
        tmp_path,
        "likelihood.k=2",
        "likelihood.estimator=log_mean_exp",
        "augment.mix=mixup",
        "epochs=1",
    )
    main(config)
    row = read_json_line((tmp_path / "run" / "log.jsonl").read_text().splitlines()[0])
    assert row["distinct_images_per_step"] == 16
    assert row["step"] == 256 // 16
    assert math.isfinite(row["train_loss"])


@pytest.mark.parametrize("precision,channels_last", [("bf16", True), ("fp16", False)])
def test_mixed_precision_on_cpu(tmp_path, precision, channels_last):
    config = tiny_config(
        tmp_path,
        f"precision={precision}",
        f"channels_last={str(channels_last).lower()}",
        "max_steps=3",
        "eval.every_epochs=0",
    )
    results = main(config)
    state = load_checkpoint_state(tmp_path / "run")
    assert state["step"] == 3
    assert (state["scaler"] is not None) == (precision == "fp16")
    assert math.isfinite(results["clean"]["nll"])


def test_ema_weights_are_exported(tmp_path):
    config = tiny_config(tmp_path, "ema.decay=0.5", "max_steps=4", "eval.every_epochs=0")
    main(config)
    state = load_checkpoint_state(tmp_path / "run")
    assert state["ema"] is not None
    exported, trained = state["model_state"], state["train_model_state"]
    assert not torch.equal(exported["fc.weight"], trained["fc.weight"])


def test_per_image_policy_does_not_depend_on_the_workers(tmp_path):
    # RandAugment runs image by image in DataLoader workers; every batch is seeded from
    # (seed, rank, epoch, step), so the weights are the same with 0 or 2 workers.
    weights = []
    for workers in (0, 2):
        config = tiny_config(
            tmp_path,
            "augment.policy=fcr+randaug",
            f"data.workers={workers}",
            "max_steps=3",
            "eval.every_epochs=0",
            name=f"workers{workers}",
        )
        main(config)
        weights.append(load_checkpoint_state(tmp_path / f"workers{workers}")["model_state"])
    assert_same_weights(*weights)


@pytest.mark.parametrize("warmup,min_ratio", [(0, 0.0), (5, 0.1)])
def test_warmup_cosine_schedule(warmup, min_ratio):
    total = 50
    factor = WarmupCosine(total, warmup, min_ratio, cosine=True)
    for step in range(warmup):
        assert factor(step) == pytest.approx((step + 1) / warmup)
    for step in range(warmup, total + 1):
        progress = (step - warmup) / (total - warmup)
        expected = min_ratio + (1 - min_ratio) * (1 + math.cos(math.pi * progress)) / 2
        assert factor(step) == pytest.approx(expected)
    assert factor(total) == pytest.approx(min_ratio)
    assert WarmupCosine(total, warmup, min_ratio, cosine=False)(total) == 1.0


def test_evaluate_model_of_checkpoint_matches_engine(tmp_path):
    config = tiny_config(tmp_path, "max_steps=2", "eval.every_epochs=0")
    results = main(config)
    model, info = model_from_checkpoint(tmp_path / "run")
    data = load_data(config, torch.device("cpu"), DistributedContext())
    again = evaluate_model(
        model, data.test_split, None, mean=info["mean"], std=info["std"], progress=False
    )
    assert again["clean"] == results["clean"]
