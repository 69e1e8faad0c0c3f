"""`probmoll evaluate` end to end on a tiny saved model, clean and corrupted data."""

import argparse
import json
import re

import numpy as np
import pytest
import torch
from test_evaluate import one_thread  # noqa: F401  (autouse fixture)

from probmoll import evaluate
from probmoll.data import load_dataset
from probmoll.models import create_model, data_info, save_checkpoint

MODEL = "preact_resnet18_w16"
SUBSET = 40


def parse(argv):
    parser = argparse.ArgumentParser(prog="probmoll evaluate")
    evaluate.add_arguments(parser)
    return parser.parse_args(argv)


@pytest.fixture(scope="module")
def synthetic_test():
    return load_dataset("synthetic", "test", n=SUBSET)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, synthetic_test):
    """A run folder with a checkpoint of an (untrained) model for the synthetic dataset."""
    folder = tmp_path_factory.mktemp("run")
    torch.manual_seed(0)
    kwargs = {"num_classes": 10, "in_channels": 3, "image_size": 32}
    model = create_model(MODEL, **kwargs)
    info = data_info(
        "synthetic",
        num_classes=10,
        in_channels=3,
        image_size=32,
        mean=synthetic_test.mean,
        std=synthetic_test.std,
        classes=synthetic_test.classes,
    )
    save_checkpoint(
        folder / "checkpoint.pt", model=model, model_name=MODEL, model_kwargs=kwargs, data=info
    )
    return folder


def write_npz(path, images, labels):
    np.savez(path, images=images, labels=labels)
    return f"npz:{path}"


def test_clean_evaluation_of_the_checkpoints_dataset_writes_into_the_run_folder(
    run_dir, synthetic_test, capsys
):
    args = parse(["--checkpoint", str(run_dir), "--subset", "16", "--device", "cpu", "--no-plots"])
    assert evaluate.run(args) == 0
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["clean"]["count"] == 16
    assert metrics["corrupted"] is None
    assert (run_dir / "report.md").is_file()
    # Same numbers as evaluating the model directly.
    from probmoll.models import model_from_checkpoint

    model, info = model_from_checkpoint(run_dir)
    direct = evaluate.evaluate_model(
        model,
        synthetic_test,
        None,
        mean=info["mean"],
        std=info["std"],
        max_examples=16,
        progress=False,
    )
    assert metrics["clean"] == pytest.approx(direct["clean"], rel=1e-6)
    assert "error clean" in capsys.readouterr().out


def test_user_npz_is_evaluated(run_dir, synthetic_test, tmp_path):
    spec = write_npz(tmp_path / "mine.npz", synthetic_test.images[:12], synthetic_test.labels[:12])
    args = parse(
        [
            "--checkpoint",
            str(run_dir / "checkpoint.pt"),
            "--data",
            spec,
            "--out",
            str(tmp_path / "out"),
            "--device",
            "cpu",
            "--no-progress",
        ]
    )
    assert evaluate.run(args) == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["clean"]["count"] == 12
    assert metrics["data"]["spec"] == spec
    assert (tmp_path / "out" / "reliability.png").is_file()


def npz_case(kind, images, labels):
    """Break one property of a valid (images, labels) pair."""
    if kind == "dtype":
        return images.astype(np.float32) / 255, labels, "uint8"
    if kind == "shape":
        return images[..., None], labels, "shape"
    if kind == "channels":
        return images[..., :1], labels, "1 channels.*expects 3"
    if kind == "size":
        return images[:, :16, :16], labels, "16x16.*expects 32x32"
    if kind == "labels-high":
        return images, np.full_like(labels, 10), "label 10 is outside \\[0, 9\\]"
    if kind == "labels-negative":
        return images, np.where(np.arange(len(labels)) == 3, -1, labels), "labels must lie"
    if kind == "labels-count":
        return images, labels[:-1], "labels"
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind", ["dtype", "shape", "channels", "size", "labels-high", "labels-negative", "labels-count"]
)
def test_mismatched_npz_is_refused_with_a_clear_message(
    kind, run_dir, synthetic_test, tmp_path, capsys
):
    images, labels, message = npz_case(kind, synthetic_test.images[:8], synthetic_test.labels[:8])
    spec = write_npz(tmp_path / f"{kind}.npz", images, labels)
    args = parse(["--checkpoint", str(run_dir), "--data", spec, "--out", str(tmp_path / "out")])
    assert evaluate.run(args) == 2
    error = capsys.readouterr().err
    assert error.startswith("probmoll evaluate: error:")
    assert re.search(message, error), error
    assert not (tmp_path / "out").exists()


def test_missing_checkpoint_is_reported(tmp_path, capsys):
    assert evaluate.run(parse(["--checkpoint", str(tmp_path / "nothing")])) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--subset", "0"], ["--batch-size", "-1"], ["--severities", "6"]])
def test_bad_numbers_are_refused_by_the_parser(argv):
    with pytest.raises(SystemExit):
        parse(["--checkpoint", "x", *argv])


def test_generated_corruptions_end_to_end(run_dir, tmp_path):
    from probmoll.data.corruptions import BENCHMARK_CORRUPTIONS, open_corruptions
    from probmoll.models import model_from_checkpoint

    out, cache = tmp_path / "out", tmp_path / "cache"
    argv = ["--checkpoint", str(run_dir), "--corruptions", "generated", "--cache-dir", str(cache)]
    argv += ["--subset", "2", "--severities", "1", "3", "--device", "cpu", "--no-progress"]
    assert evaluate.run(parse([*argv, "--out", str(out)])) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    corrupted = metrics["corrupted"]
    assert {"mean", "by_corruption", "by_category", "by_severity", "heldout"} <= set(corrupted)
    assert list(corrupted["by_corruption"]) == list(BENCHMARK_CORRUPTIONS)
    assert all(set(cells) == {"1", "3", "mean"} for cells in corrupted["by_corruption"].values())
    assert set(corrupted["by_severity"]) == {"1", "3"}
    assert corrupted["heldout"] == {} and corrupted["complete"] is False
    assert corrupted["mean"]["count"] == 15 * 2 * 2
    assert (out / "severity.png").is_file()

    # A cell equals the model evaluated on that cell of the cached set, read back.
    clean = load_dataset("synthetic", "test")
    sets = open_corruptions("generated", dataset=clean, cache_dir=cache, subset=2, progress=False)
    images, labels = sets.load("fog", 3)
    model, info = model_from_checkpoint(run_dir)
    direct = evaluate.evaluate_model(
        model,
        type(clean)("fog", "s3", images, labels, clean.classes, info["mean"], info["std"]),
        None,
        mean=info["mean"],
        std=info["std"],
        progress=False,
    )
    assert corrupted["by_corruption"]["fog"]["3"] == pytest.approx(direct["clean"], rel=1e-6)


def test_training_dataset_options_rebuild_the_same_test_split(tmp_path):
    options = {"num_classes": 4, "n": 24}
    test = load_dataset("synthetic", "test", **options)
    kwargs = {"num_classes": 4, "in_channels": 3, "image_size": 32}
    info = data_info("synthetic", mean=test.mean, std=test.std, classes=test.classes, **kwargs)
    info["options"] = options
    model = create_model(MODEL, **kwargs)
    save_checkpoint(
        tmp_path / "checkpoint.pt", model=model, model_name=MODEL, model_kwargs=kwargs, data=info
    )
    args = parse(["--checkpoint", str(tmp_path), "--device", "cpu", "--no-plots"])
    assert evaluate.run(args) == 0
    assert json.loads((tmp_path / "metrics.json").read_text())["clean"]["count"] == 24
