"""The training engine and ``probmoll train``: outputs, mollification, precision, failures."""

import csv
import math

import numpy as np
import pytest
import torch
from torch import nn

from probmoll.cli import main as probmoll_main
from probmoll.data import DatasetSplit, load_dataset
from probmoll.evaluate import evaluate_model
from probmoll.metrics import ClassificationMetrics
from probmoll.models import load_checkpoint, model_from_checkpoint
from probmoll.mollify import create_mollifier
from probmoll.train import data as train_data
from probmoll.train.config import ConfigError, load_config
from probmoll.train.distributed import DistributedContext
from probmoll.train.engine import (
    HostImages,
    NonFiniteLossError,
    Trainer,
    WarmupCosine,
    evaluate,
    load_data,
    main,
    standardize,
)
from probmoll.train.state import RUN_FILES, RunFolderError, prepare_run_folder
from tests.helpers import (
    SMOKE,
    TINY,
    assert_same_weights,
    load_checkpoint_state,
    probmoll,
    read_json,
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
    (run_dir / "notes.txt").write_text("mine")  # the user's file next to the run
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
    assert (run_dir / "checkpoint.pt").read_bytes() != before
    assert (run_dir / "notes.txt").read_text() == "mine"


def test_unfinished_run_needs_resume_or_overwrite(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text("out: elsewhere\n")
    (run_dir / "run.json").write_text('{"status": "interrupted"}\n')
    assert probmoll_main(["train", *TINY, f"out={run_dir}"]) == 2
    error = capsys.readouterr().err
    assert "unfinished run" in error and "--resume" in error and "--overwrite" in error
    assert (run_dir / "config.yaml").read_text() == "out: elsewhere\n"


def make_folder(folder, files):
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)


def folder_files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


FOREIGN = {
    "notes.txt": "mine",
    "data/train.npy": "x",
    "config.yaml.bak": "y",
    "tensorboard/my_plot.png": "z",
}


@pytest.mark.parametrize("status", ["finished", "interrupted"])
def test_overwrite_deletes_only_the_runs_files(tmp_path, status):
    run_dir = tmp_path / "run"
    run_files = {name: "old" for name in RUN_FILES} | {
        "run.json": f'{{"status": "{status}"}}',
        ".checkpoint.pt.abc123.tmp": "half-written",
        "tensorboard/events.out.tfevents.1.host": "events",
    }
    make_folder(run_dir, FOREIGN | run_files)
    with pytest.raises(RunFolderError, match="--overwrite"):
        prepare_run_folder(run_dir, resume=False, overwrite=False)
    assert prepare_run_folder(run_dir, resume=False, overwrite=True) == "fresh"
    assert folder_files(run_dir) == sorted(FOREIGN)


@pytest.mark.parametrize("resume", [False, True])
def test_a_folder_without_run_json_or_checkpoint_is_no_run(tmp_path, resume):
    # config.yaml and metrics.json alone (a user's config, a `probmoll evaluate` report)
    # do not make a run: --resume refuses, a new run refuses to overwrite them silently.
    folder = tmp_path / "report"
    make_folder(folder, FOREIGN | {"config.yaml": "mine", "metrics.json": "{}"})
    with pytest.raises(RunFolderError) as raised:
        prepare_run_folder(folder, resume=resume, overwrite=False)
    message = str(raised.value)
    assert "run.json" in message and "checkpoint.pt" in message
    if not resume:
        assert "config.yaml" in message and "metrics.json" in message and "out=" in message
    assert folder_files(folder) == sorted([*FOREIGN, "config.yaml", "metrics.json"])
    # Only the clashing files go with --overwrite; a folder without them is simply used.
    assert prepare_run_folder(folder, resume=False, overwrite=True) == "fresh"
    assert folder_files(folder) == sorted(FOREIGN)
    assert prepare_run_folder(folder, resume=False, overwrite=False) == "fresh"


def test_overwrite_through_the_command_line_keeps_foreign_files(tmp_path, capsys):
    run_dir = tmp_path / "run"
    make_folder(run_dir, FOREIGN | {"metrics.json": "{}"})
    args = ["train", *TINY, f"out={run_dir}", "max_steps=1", "eval.every_epochs=0"]
    assert probmoll_main(args) == 2
    assert "metrics.json" in capsys.readouterr().err
    assert probmoll_main([*args, "--overwrite"]) == 0
    assert read_json(run_dir / "run.json")["status"] == "finished"
    for name, text in FOREIGN.items():
        assert (run_dir / name).read_text() == text


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


@pytest.fixture
def mapped_dataset(tmp_path, monkeypatch):
    """A dataset "mapped": the tiny synthetic set, its images read through np.memmap (as
    the cache serves them); counts DatasetSplit.to_tensor calls per split."""
    from probmoll.data import registry

    def load_mapped(split, *, root=None, cache_dir=None, download=False):
        plain = load_dataset("synthetic", split, n=256, num_classes=4)
        path = tmp_path / f"{split}.npy"
        np.save(path, plain.images)
        images = np.load(path, mmap_mode="r")
        return DatasetSplit(
            "mapped", split, images, plain.labels, plain.classes, plain.mean, plain.std
        )

    copies = []
    to_tensor = DatasetSplit.to_tensor

    def counting_to_tensor(split, device=None):
        copies.append(split.split)
        return to_tensor(split, device)

    monkeypatch.setattr(DatasetSplit, "to_tensor", counting_to_tensor)
    with registry.DATASETS.scoped():
        registry.DATASETS.add("mapped", load_mapped)
        yield copies


@pytest.mark.parametrize("policy", ["fcr", "fcr+randaug"])
def test_memory_mapped_training_set_is_never_copied_whole(tmp_path, mapped_dataset, policy):
    # data.on_device=never: batches are read from the memory map (batched FCR on the
    # device, or per-image policies in a DataLoader), with the same results as a copy.
    weights = []
    for placement in ("always", "never"):
        mapped_dataset.clear()
        config = tiny_config(
            tmp_path,
            "data.name=mapped",
            "data.options={}",
            f"data.on_device={placement}",
            f"augment.policy={policy}",
            "data.workers=0",
            "max_steps=3",
            "eval.every_epochs=0",
            name=placement,
        )
        data = load_data(config, torch.device("cpu"), DistributedContext())
        if placement == "never":
            assert isinstance(data.train_images, HostImages)
            assert isinstance(data.train_images.array, np.memmap)  # not a copy
            assert mapped_dataset == ["test"]  # only the test split became a tensor
            reference = load_dataset("mapped", "train").to_tensor()[0]
            assert data.train_images.shape == reference.shape
            indices = torch.tensor([5, 0, 255, 5])
            assert torch.equal(data.train_images[indices], reference[indices])
        else:
            assert isinstance(data.train_images, torch.Tensor)
            assert mapped_dataset == ["train", "test"]
        main(config)
        weights.append(load_checkpoint_state(tmp_path / placement)["model_state"])
    assert_same_weights(*weights)


def test_png_blur_schedule_is_measured_on_a_memory_mapped_training_set(tmp_path, mapped_dataset):
    # mollify.blur_schedule=png measures its curve on training images that stay memory-mapped.
    curves = []
    for placement in ("always", "never"):
        config = tiny_config(
            tmp_path,
            "data.name=mapped",
            "data.options={}",
            f"data.on_device={placement}",
            "mollify.blur_schedule=png",
            name=placement,
        )
        data = load_data(config, torch.device("cpu"), DistributedContext())
        mollifier = create_mollifier(config.mollify, num_classes=10, images=data.train_images)
        curves.append(mollifier.blur_curve)
    assert torch.equal(curves[0].size_ratio, curves[1].size_ratio)


@pytest.mark.parametrize(
    "name,available,on_device",
    [
        ("synthetic", 1000, True),  # already in memory: one tensor, as always
        ("mapped", 1000, False),  # a memory map larger than a quarter of the free RAM
        ("mapped", 10**12, True),
        ("mapped", None, True),  # free RAM unknown
    ],
)
def test_auto_placement_on_the_cpu(
    tmp_path, mapped_dataset, monkeypatch, name, available, on_device
):
    monkeypatch.setattr(train_data, "_available_ram", lambda: available)
    options = ["data.options={}"] if name == "mapped" else []  # else TINY's synthetic set
    config = tiny_config(tmp_path, f"data.name={name}", *options, "data.on_device=auto")
    data = load_data(config, torch.device("cpu"), DistributedContext())
    assert isinstance(data.train_images, torch.Tensor) == on_device
    assert data.train_images.shape == (256, 3, 32, 32)


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


def test_per_epoch_evaluate_takes_an_autocast_context_as_earlier_releases_did():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    images = torch.randint(0, 256, (10, 3, 8, 8), dtype=torch.uint8)
    labels = torch.randint(0, 4, (10,))
    mean, std = torch.full((3,), 0.5), torch.full((3,), 0.2)
    by_dtype = evaluate(
        model, images, labels, mean, std, num_classes=4, autocast_dtype=torch.bfloat16
    )
    by_context = evaluate(
        model,
        images,
        labels,
        mean,
        std,
        num_classes=4,
        autocast=torch.autocast("cpu", dtype=torch.bfloat16),
    )
    full = evaluate(model, images, labels, mean, std, num_classes=4)
    assert by_context == by_dtype and by_dtype["nll"] != full["nll"]
