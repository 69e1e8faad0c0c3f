"""Where `probmoll evaluate` writes: its own folder, never over a run's files or silently
over another evaluation."""

import argparse
import json
import re

import pytest

from probmoll import __version__, evaluate
from probmoll.evaluate.output import evaluation_name
from tests.evaluate.helpers import save_untrained_run
from tests.helpers import TINY, probmoll

MODEL = "preact_resnet18_w16"
SAFE_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


def snapshot(folder, *, skip=("evaluations",)):
    """``{relative path: (bytes, mtime_ns)}`` of every file under ``folder`` (but ``skip``)."""
    return {
        str(path.relative_to(folder)): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.relative_to(folder).parts[0] not in skip
    }


# ------------------------------------------------------ after a real training run
@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("trained") / "run"
    result = probmoll("train", *TINY, f"out={run_dir}", "epochs=1")
    assert result.returncode == 0, result.stderr
    return run_dir


def test_evaluate_never_touches_the_run_and_replaces_nothing_silently(trained_run):
    before = snapshot(trained_run)
    assert {"metrics.json", "report.md", "reliability.png", "run.json"} <= set(before)
    argv = ["evaluate", "--checkpoint", str(trained_run), "--subset", "16", "--device", "cpu"]
    argv.append("--no-progress")
    first = probmoll(*argv)
    assert first.returncode == 0, first.stderr
    assert snapshot(trained_run) == before  # bytes and modification times

    folder = trained_run / "evaluations" / "synthetic-test__n16"
    written = sorted(p.name for p in folder.iterdir())
    assert written == ["metrics.json", "reliability.png", "report.md"]
    assert str(folder) in first.stdout
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["clean"]["count"] == 16
    record = metrics["evaluation"]
    assert record["checkpoint"] == str((trained_run / "checkpoint.pt").resolve())
    assert record["command"].startswith(f"probmoll evaluate --checkpoint {trained_run}")
    assert "--subset 16" in record["command"]
    assert (record["data"], record["corruptions"], record["subset"]) == ("synthetic", "none", 16)
    assert record["severities"] is None and record["include_heldout"] is False
    assert record["probmoll"] == __version__ and record["name"] == folder.name
    assert record["command"] in (folder / "report.md").read_text()

    # The same evaluation again: refused, nothing written anywhere.
    evaluated = snapshot(folder)
    again = probmoll(*argv)
    assert again.returncode == 2, again.stderr
    assert again.stderr.startswith("probmoll evaluate: error:") and again.stderr.count("\n") == 1
    assert str(folder) in again.stderr and "--overwrite" in again.stderr and "--out" in again.stderr
    assert snapshot(folder) == evaluated and snapshot(trained_run) == before

    # With --overwrite it is replaced, and a plot it no longer draws is removed.
    replaced = probmoll(*argv, "--no-plots", "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["metrics.json", "report.md"]
    assert snapshot(trained_run) == before


# --------------------------------------------------------- in-process, a bare checkpoint
def parse(argv):
    parser = argparse.ArgumentParser(prog="probmoll evaluate")
    evaluate.add_arguments(parser)
    return parser.parse_args(argv)


@pytest.fixture(scope="module")
def bare_run(tmp_path_factory):
    """A folder holding only checkpoint.pt: an untrained model of 4 classes, 8 test images."""
    folder = tmp_path_factory.mktemp("bare-run")
    save_untrained_run(folder, n=8, seed=2)
    return folder


def run(*argv):
    return evaluate.run(parse(["--device", "cpu", "--no-progress", "--no-plots", *argv]))


def test_a_checkpoint_file_evaluates_into_the_folder_holding_it(bare_run, capsys):
    checkpoint = bare_run / "checkpoint.pt"
    before = snapshot(bare_run)
    assert run("--checkpoint", str(checkpoint), "--subset", "3") == 0
    folder = bare_run / "evaluations" / "synthetic-test__n3"
    assert json.loads((folder / "metrics.json").read_text())["clean"]["count"] == 3
    assert f"wrote the evaluation to {folder}" in capsys.readouterr().out
    assert snapshot(bare_run) == before
    assert not (bare_run / "metrics.json").exists()


def test_out_holding_another_evaluation_needs_overwrite(bare_run, tmp_path, capsys):
    out = tmp_path / "out"
    (out).mkdir()
    (out / "notes.txt").write_text("mine")  # a user's file is no evaluation: accepted
    assert run("--checkpoint", str(bare_run), "--out", str(out), "--subset", "4") == 0
    first = (out / "metrics.json").read_bytes()
    capsys.readouterr()
    assert run("--checkpoint", str(bare_run), "--out", str(out), "--subset", "2") == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and str(out) in error
    assert "another evaluation" in error and "--overwrite" in error
    assert (out / "metrics.json").read_bytes() == first
    argv = ["--checkpoint", str(bare_run), "--out", str(out), "--subset", "2", "--overwrite"]
    assert run(*argv) == 0
    assert json.loads((out / "metrics.json").read_text())["clean"]["count"] == 2
    assert (out / "notes.txt").read_text() == "mine"


def test_out_that_is_a_run_folder_is_refused_even_with_overwrite(bare_run, tmp_path, capsys):
    before = snapshot(bare_run, skip=())
    for extra in ([], ["--overwrite"]):
        assert run("--checkpoint", str(bare_run), "--out", str(bare_run), *extra) == 2
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and "checkpoint.pt" in error and str(bare_run) in error
    other = tmp_path / "other-run"
    other.mkdir()
    (other / "run.json").write_text("{}")
    assert run("--checkpoint", str(bare_run), "--out", str(other), "--overwrite") == 2
    assert "run.json" in capsys.readouterr().err
    assert sorted(p.name for p in other.iterdir()) == ["run.json"]
    assert snapshot(bare_run, skip=()) == before


@pytest.mark.parametrize(
    "request_, name",
    [
        ({"data": "synthetic"}, "synthetic-test"),
        (
            {"data": "cifar10", "corruptions": "generated", "severities": [5, 1, 2, 3, 4],
             "subset": 1000},
            "cifar10-test__generated__s1-5__n1000",
        ),
        (
            {"data": "cifar10", "corruptions": "CIFAR10-C", "severities": [3, 1]},
            "cifar10-test__cifar10-c__s13",
        ),
        (
            {"data": "npz:/data/My Test.npz", "corruptions": "/sets/Fog Set/",
             "include_heldout": True},
            "npz-my-test__fog-set__heldout",
        ),
        # Without corruptions, severities and held-out corruptions do not apply.
        ({"data": "mnist", "severities": [1], "include_heldout": True}, "mnist-test"),
    ],
)  # fmt: skip
def test_evaluation_names_say_what_is_evaluated(request_, name):
    full = {"corruptions": "none", "severities": None, "include_heldout": False, "subset": None}
    assert evaluation_name(**{**full, **request_}) == name


def test_evaluation_names_are_short_and_safe_for_any_input():
    weird = "npz:" + "/x" * 50 + "/../ä b$c" * 30 + ".npz"
    name = evaluation_name(
        data=weird, corruptions="../" * 40, severities=[2], include_heldout=False, subset=7
    )
    assert SAFE_NAME.match(name) and len(name) <= 120, name
    assert name == evaluation_name(
        data=weird, corruptions="../" * 40, severities=[2], include_heldout=False, subset=7
    )
