"""``probmoll sweep``: grid expansion, submitit local executor, skipping, collected tables."""

import csv
import json
import os
import statistics

import pytest
import yaml

from probmoll.cli import main as probmoll_main
from probmoll.train.config import ConfigError, parse_overrides
from probmoll.train.sweep import collect_results, expand_grid, load_sweep
from tests.helpers import REPO, TINY, read_json


def write_base(tmp_path):
    """The tiny training config as a YAML file, the base of the test grids."""
    base = parse_overrides([*TINY, "epochs=1", "eval.every_epochs=0", "out=unused"])
    path = tmp_path / "base.yaml"
    path.write_text(yaml.safe_dump(base))
    return path


def write_grid(tmp_path, grid, **extra):
    write_base(tmp_path)
    spec = {"base": "base.yaml", "out": str(tmp_path / "sweep"), "grid": grid, **extra}
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def test_grid_expands_to_deterministic_run_names():
    points = expand_grid(
        {
            "augment": [
                {"name": "fcr", "augment.policy": "fcr"},
                {"name": "fcr+mixup", "augment.policy": "fcr", "augment.mix": "mixup"},
            ],
            "mollify.enabled": [False, True],
            "seed": [0, 1, 2],
        }
    )
    assert len(points) == 2 * 2 * 3
    labels, overrides = points[-1]
    assert labels == {"augment": "fcr+mixup", "mollify.enabled": "true", "seed": "2"}
    assert overrides == {
        "augment.policy": "fcr",
        "augment.mix": "mixup",
        "mollify.enabled": True,
        "seed": 2,
    }
    assert points == expand_grid(
        {
            "augment": [
                {"name": "fcr", "augment.policy": "fcr"},
                {"name": "fcr+mixup", "augment.policy": "fcr", "augment.mix": "mixup"},
            ],
            "mollify.enabled": [False, True],
            "seed": [0, 1, 2],
        }
    )


@pytest.mark.parametrize(
    "grid,extra,named",
    [
        ({"seed": [0, 0]}, {}, "repeats"),
        ({"seed": []}, {}, "grid.seed"),
        ({"optim.lr": [-1.0]}, {}, "optim.lr"),  # an invalid run is refused up front
        ({"likelihood.k": [3]}, {}, "batch_size"),
        ({"seed": [0]}, {"executor": {"name": "cloud"}}, "sequential"),
        ({"seed": [0]}, {"collect": {"over": "epochs"}}, "collect.over"),
        ({"seed": [0]}, {"colour": 1}, "colour"),
        ({"seed": [0]}, {"collect": {"metrics": ["clean.eror"]}}, "did you mean 'clean.error'"),
    ],
)
def test_bad_grids_are_refused_before_running(tmp_path, grid, extra, named):
    with pytest.raises(ConfigError, match=named.replace("+", r"\+")):
        load_sweep(write_grid(tmp_path, grid, **extra))
    assert not (tmp_path / "sweep").exists()


def test_collected_table_has_mean_and_sample_std_over_seeds(tmp_path):
    spec = load_sweep(write_grid(tmp_path, {"mollify.enabled": [False, True], "seed": [0, 1, 2]}))
    errors = {}
    for index, point in enumerate(spec.points):
        run_dir = tmp_path / "sweep" / point.name
        run_dir.mkdir(parents=True)
        error = 0.1 + 0.01 * index**2
        errors.setdefault(point.labels["mollify.enabled"], []).append(error)
        finished = point.labels["seed"] != "2" or point.labels["mollify.enabled"] == "true"
        (run_dir / "run.json").write_text(
            json.dumps({"status": "finished" if finished else "failed"})
        )
        if not finished:
            errors["false"].pop()
        metrics = {"clean": {"error": error, "nll": 1.0 + error}, "corrupted": None}
        (run_dir / "metrics.json").write_text(json.dumps(metrics))
    collect_results(spec)
    with (tmp_path / "sweep" / "results.csv").open() as handle:
        rows = {row["mollify.enabled"]: row for row in csv.DictReader(handle)}
    for enabled, values in errors.items():
        row = rows[enabled]
        assert int(row["n"]) == len(values)
        assert float(row["clean.error.mean"]) == pytest.approx(statistics.mean(values), rel=1e-5)
        assert float(row["clean.error.std"]) == pytest.approx(statistics.stdev(values), rel=1e-5)
        assert row["corrupted.mean.error.mean"] == ""  # no corruption results
    markdown = (tmp_path / "sweep" / "results.md").read_text()
    mean, std = statistics.mean(errors["true"]), statistics.stdev(errors["true"])
    assert f"| true | 3 | {100 * mean:.1f} ({100 * std:.1f}) |" in markdown
    with (tmp_path / "sweep" / "runs.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == 6


def test_sweep_with_submitit_local_executor(tmp_path, monkeypatch, capsys):
    # Jobs run in fresh processes that must import this checkout.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    grid = write_grid(
        tmp_path,
        {"mollify.enabled": [False, True], "seed": [0]},
        executor={"name": "local", "max_parallel": 2, "timeout_min": 10},
        collect={"over": "seed", "metrics": ["clean.error", "clean.nll"]},
    )
    assert probmoll_main(["sweep", str(grid)]) == 0
    sweep = tmp_path / "sweep"
    names = ["mollify.enabled-false__seed-0", "mollify.enabled-true__seed-0"]
    for name in names:
        assert read_json(sweep / name / "run.json")["status"] == "finished"
        assert (sweep / name / "metrics.json").is_file()
    with (sweep / "results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["mollify.enabled"] for row in rows] == ["false", "true"]
    for row, name in zip(rows, names, strict=True):
        assert row["n"] == "1" and row["clean.error.std"] == ""  # one seed: no spread
        clean = read_json(sweep / name / "metrics.json")["clean"]
        assert float(row["clean.error.mean"]) == pytest.approx(clean["error"], rel=1e-5)
    jobs = sorted((sweep / ".submitit").iterdir())
    capsys.readouterr()

    # Started again, the sweep skips the finished runs and submits nothing.
    assert probmoll_main(["sweep", str(grid)]) == 0
    output = capsys.readouterr().out
    assert all(f"skip {name}: finished" in output for name in names)
    assert sorted((sweep / ".submitit").iterdir()) == jobs
