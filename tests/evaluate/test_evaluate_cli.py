"""`probmoll evaluate` end to end on a tiny saved model, clean and corrupted data."""

import argparse
import json
import re

import numpy as np
import pytest
import torch

from probmoll import evaluate
from probmoll.data import load_dataset
from probmoll.models import create_model, data_info, save_checkpoint
from tests.evaluate.helpers import save_untrained_run

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
    return save_run(tmp_path_factory.mktemp("run"), synthetic_test)


def save_run(folder, split, extra=None):
    """``folder`` with the checkpoint of an untrained model for ``split``'s images."""
    torch.manual_seed(0)
    kwargs = {"num_classes": 10, "in_channels": 3, "image_size": 32}
    model = create_model(MODEL, **kwargs)
    info = data_info(
        "synthetic",
        num_classes=10,
        in_channels=3,
        image_size=32,
        mean=split.mean,
        std=split.std,
        classes=split.classes,
    )
    save_checkpoint(
        folder / "checkpoint.pt",
        model=model,
        model_name=MODEL,
        model_kwargs=kwargs,
        data=info,
        extra=extra,
    )
    return folder


def write_npz(path, images, labels):
    np.savez(path, images=images, labels=labels)
    return f"npz:{path}"


def test_clean_evaluation_of_the_checkpoints_dataset_writes_into_its_own_folder(
    run_dir, synthetic_test, capsys
):
    args = parse(["--checkpoint", str(run_dir), "--subset", "16", "--device", "cpu", "--no-plots"])
    assert evaluate.run(args) == 0
    folder = run_dir / "evaluations" / "synthetic-test__n16"
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["clean"]["count"] == 16
    assert metrics["corrupted"] is None
    assert (folder / "report.md").is_file()
    assert not (run_dir / "metrics.json").exists()  # never the run's own files
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
        negative = np.where(np.arange(len(labels)) == 3, -1, labels)
        return images, negative, "labels must lie|label -1, outside"
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
    metrics = tmp_path / "evaluations" / "synthetic-test" / "metrics.json"
    assert json.loads(metrics.read_text())["clean"]["count"] == 24


# ------------------------------------------------- corruption sets given to the command
@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A run whose test split (the checkpoint's dataset options) holds 4 images of 4 classes."""
    folder = tmp_path_factory.mktemp("small-run")
    test = save_untrained_run(folder, n=4, seed=1)
    return folder, test


def write_c_set(root, labels, names=("fog", "contrast")):
    """A CIFAR-10-C style folder: random images, ``labels`` repeated for 5 severities."""
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    np.save(root / "labels.npy", np.tile(np.asarray(labels, np.int64), 5))
    for name in names:
        np.save(root / f"{name}.npy", rng.integers(0, 256, (5 * len(labels), 32, 32, 3), np.uint8))
    return root


def small_argv(small_run, tmp_path, *extra):
    folder, _ = small_run
    return ["--checkpoint", str(folder), "--out", str(tmp_path / "out"), "--device", "cpu",
            "--no-progress", "--no-plots", *extra]  # fmt: skip


def test_generated_set_with_a_subset_reaching_the_split_size_reuses_the_full_set(
    small_run, tmp_path
):
    cache = tmp_path / "cache"
    argv = small_argv(small_run, tmp_path, "--corruptions", "generated", "--cache-dir", str(cache))
    argv.append("--overwrite")  # one output folder for the four evaluations
    assert evaluate.run(parse(argv)) == 0  # generates the full set (4 images)
    for subset in ("4", "9"):  # as many as, or more than, the split: the same set
        assert evaluate.run(parse([*argv, "--subset", subset])) == 0
    (folder,) = (cache / "corruptions").iterdir()
    assert json.loads((folder / "manifest.json").read_text())["source"]["subset"] is None
    assert evaluate.run(parse([*argv, "--subset", "2"])) == 0  # a real subset: its own set
    assert len(list((cache / "corruptions").iterdir())) == 2


def test_corruption_set_of_another_dataset_is_refused(small_run, tmp_path, capsys):
    _, test = small_run
    other = write_c_set(tmp_path / "other-c", (test.labels + 1) % 4)
    argv = small_argv(small_run, tmp_path, "--corruptions", str(other))
    assert evaluate.run(parse(argv)) == 2
    error = capsys.readouterr().err
    assert re.search(r"other-c/labels\.npy': its 4 labels per severity differ", error), error
    # Another image count: the labels' range is checked against the model's 4 classes.
    wide = write_c_set(tmp_path / "wide-c", [0, 7, 1])
    assert evaluate.run(parse(small_argv(small_run, tmp_path, "--corruptions", str(wide)))) == 2
    error = capsys.readouterr().err
    assert re.search(r"wide-c/labels\.npy': label 7 is outside \[0, 3\] of the model's 4", error)
    assert not (tmp_path / "out").exists()


FOG_REFERENCE = {"1": 0.8, "2": 0.85, "3": 0.9, "4": 0.9, "5": 0.95}


def test_reference_errors_add_mce_and_relative_mce(small_run, tmp_path):
    _, test = small_run
    sets = write_c_set(tmp_path / "set-c", test.labels)
    reference = tmp_path / "alexnet.json"
    reference.write_text(json.dumps({"clean": 0.25, "fog": FOG_REFERENCE, "contrast": 0.9}))
    argv = ["--corruptions", str(sets), "--reference-errors", str(reference)]
    assert evaluate.run(parse(small_argv(small_run, tmp_path, *argv))) == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    corrupted = metrics["corrupted"]
    fog = [corrupted["by_corruption"]["fog"][str(s)]["error"] for s in range(1, 6)]
    contrast = [corrupted["by_corruption"]["contrast"][str(s)]["error"] for s in range(1, 6)]
    ce = {"fog": sum(fog) / sum(FOG_REFERENCE.values()), "contrast": sum(contrast) / (5 * 0.9)}
    assert corrupted["reference"]["ce_by_corruption"] == pytest.approx(ce)
    assert corrupted["mce"] == pytest.approx((ce["fog"] + ce["contrast"]) / 2)
    clean = metrics["clean"]["error"]
    relative = {
        "fog": sum(e - clean for e in fog) / sum(r - 0.25 for r in FOG_REFERENCE.values()),
        "contrast": sum(e - clean for e in contrast) / (5 * (0.9 - 0.25)),
    }
    assert corrupted["reference"]["relative_ce_by_corruption"] == pytest.approx(relative)
    assert corrupted["relative_mce"] == pytest.approx(sum(relative.values()) / 2)
    assert corrupted["mean"]["error"] == pytest.approx((sum(fog) + sum(contrast)) / 10)
    report = (tmp_path / "out" / "report.md").read_text()
    assert f"mCE {100 * corrupted['mce']:.1f}%" in report
    assert f"relative mCE {100 * corrupted['relative_mce']:.1f}%" in report
    assert "alexnet.json" in report and "| fog |" in report


@pytest.mark.parametrize(
    "content, extra, match",
    [
        (
            {"fog": 55.0, "contrast": 0.5},
            [],
            r"error 55\.0 is outside \[0, 1\] \(errors are fractions",
        ),
        ({"fog": 0.5, "rain": 0.5}, [], "unknown corruption 'rain'"),
        (
            {"fog": {"6": 0.5}, "contrast": 0.5},
            [],
            r"entry 'fog': severities must be integers in 1\.\.5 \(a non-empty list\), got \[6\]",
        ),
        ({"fog": {"1": "high"}}, [], "severity 1: expected an error"),
        ({"fog": 0.5}, [], r"no reference errors for the evaluated corruptions \['contrast'\]"),
        ({"fog": {"1": 0.5}, "contrast": 0.5}, [], r"'fog' at severities \[2, 3, 4, 5\]"),
        ({"fog": 0.5, "contrast": 0.5}, ["--severities", "1", "3"], r"one error \(a mean over"),
        ({"clean": 0.2}, [], "names no corruption"),
        # Values mCE cannot use: caught before the evaluation, not after it.
        (
            {"clean": 0.9, "fog": 0.5, "contrast": 0.5},
            [],
            r"reference\.json': the reference's errors on 'fog' \(0\.5 on average\) do not "
            "exceed its clean error 0.9",
        ),
        (
            {"fog": 0.0, "contrast": 0.5},
            [],
            r"reference\.json': reference errors of 'fog' sum to 0",
        ),
        ({"fog": {str(s): 0.0 for s in range(1, 6)}, "contrast": 0.5}, [], "'fog' sum to 0"),
        ([0.5, 0.6], [], "must hold a non-empty JSON object"),
        ("{not json", [], r"reference\.json: not valid JSON"),
    ],
)
def test_bad_reference_errors_are_refused_before_evaluating(
    small_run, tmp_path, capsys, content, extra, match
):
    _, test = small_run
    sets = write_c_set(tmp_path / "set-c", test.labels)
    reference = tmp_path / "reference.json"
    reference.write_text(content if isinstance(content, str) else json.dumps(content))
    argv = ["--corruptions", str(sets), "--reference-errors", str(reference), *extra]
    assert evaluate.run(parse(small_argv(small_run, tmp_path, *argv))) == 2
    error = capsys.readouterr().err
    assert error.startswith("probmoll evaluate: error:") and error.count("\n") == 1
    assert re.search(match, error), error
    assert "reference.json" in error
    assert not (tmp_path / "out").exists()


def test_reference_errors_mce_cannot_use_fail_without_evaluating(
    small_run, tmp_path, capsys, monkeypatch
):
    _, test = small_run
    sets = write_c_set(tmp_path / "set-c", test.labels)
    reference = tmp_path / "reference.json"
    reference.write_text(json.dumps({"clean": 0.9, "fog": 0.5, "contrast": 0.5}))

    def never(*args, **kwargs):
        raise AssertionError("evaluate_model ran with a reference mCE cannot use")

    monkeypatch.setattr("probmoll.evaluate.cli.evaluate_model", never)
    argv = ["--corruptions", str(sets), "--reference-errors", str(reference)]
    assert evaluate.run(parse(small_argv(small_run, tmp_path, *argv))) == 2
    error = capsys.readouterr().err
    assert str(reference) in error and "do not exceed its clean error 0.9" in error
    assert not (tmp_path / "out").exists()


def test_reference_errors_need_a_file_and_a_benchmark(small_run, tmp_path, capsys):
    argv = small_argv(small_run, tmp_path, "--reference-errors", str(tmp_path / "absent.json"))
    assert evaluate.run(parse(argv)) == 2
    assert "needs a corruption benchmark" in capsys.readouterr().err
    argv += ["--corruptions", "generated"]
    assert evaluate.run(parse(argv)) == 2
    assert re.search(r"absent\.json' does not exist", capsys.readouterr().err)


# ------------------------------------------------------------ errors of other kinds
def test_runtime_and_os_errors_are_one_line_errors(small_run, tmp_path, capsys):
    argv = small_argv(small_run, tmp_path)
    assert evaluate.run(parse([*argv, "--device", "warp-drive"])) == 2  # torch: RuntimeError
    error = capsys.readouterr().err
    assert error.startswith("probmoll evaluate: error:") and "warp-drive" in error
    assert error.count("\n") == 1 and "Traceback" not in error
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    argv = small_argv(small_run, tmp_path, "--out", str(blocker / "out"))
    assert evaluate.run(parse(argv)) == 2  # the output folder cannot be made: OSError
    error = capsys.readouterr().err
    assert error.startswith("probmoll evaluate: error:") and "a-file" in error


def test_inference_settings_follow_the_run_unless_forced():
    trained = {"config": {"precision": "bf16", "channels_last": True}}
    assert evaluate.inference_settings(trained) == ("bf16", True)
    assert evaluate.inference_settings(trained, "fp32") == ("fp32", True)
    assert evaluate.inference_settings({}) == ("fp32", False)  # a user's checkpoint
    with pytest.raises(ValueError, match="precision must be one of"):
        evaluate.inference_settings(trained, "int8")


def test_a_bf16_run_is_evaluated_in_bf16_by_default(tmp_path, synthetic_test):
    save_run(
        tmp_path, synthetic_test, extra={"config": {"precision": "bf16", "channels_last": True}}
    )
    found = {}
    for precision in ("auto", "fp32"):
        out = tmp_path / precision
        argv = ["--checkpoint", str(tmp_path), "--subset", "16", "--device", "cpu"]
        argv += ["--no-plots", "--out", str(out), "--precision", precision]
        assert evaluate.run(parse(argv)) == 0
        found[precision] = json.loads((out / "metrics.json").read_text())
    assert found["auto"]["settings"]["autocast_dtype"] == "torch.bfloat16"
    assert found["auto"]["settings"]["channels_last"] is True
    assert found["auto"]["evaluation"]["precision"] == "bf16"
    assert found["fp32"]["settings"]["autocast_dtype"] is None
    assert "--precision fp32" in found["fp32"]["evaluation"]["command"]
    # bf16 rounds the logits, the predictions of an untrained model hardly move.
    assert found["auto"]["clean"]["nll"] == pytest.approx(found["fp32"]["clean"]["nll"], rel=0.05)
