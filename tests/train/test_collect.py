"""Sweep collection with broken run files, metric names checked before anything runs, and
the severity figure drawn beside the tables."""

import csv
import json
import statistics

import pytest
import yaml

from probmoll.evaluate.reference import load_reference_errors, reference_summary
from probmoll.metrics.schema import METRIC_PATTERNS, MetricNames, numeric_keys
from probmoll.train.collect import SEVERITY_FIGURE, severity_spread
from probmoll.train.config import ConfigError, parse_overrides
from probmoll.train.results import check_metric_names, metric_names
from probmoll.train.sweep import load_sweep
from tests.helpers import TINY, probmoll, read_json

GOOD = {"clean": {"error": 0.25, "nll": 0.7}, "corrupted": None}


def write_grid(tmp_path, metrics=("clean.error", "clean.nll"), seeds=(0, 1, 2)):
    base = parse_overrides([*TINY, "epochs=1", "eval.every_epochs=0", "out=unused"])
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    spec = {
        "base": "base.yaml",
        "out": str(tmp_path / "sweep"),
        "grid": {"seed": list(seeds)},
        "collect": {"over": "seed", "metrics": list(metrics)},
    }
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def finished_run(folder, metrics_text):
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"status": "finished"}))
    if metrics_text is not None:
        (folder / "metrics.json").write_text(metrics_text)


def read_csv(path):
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_collect_names_broken_and_missing_metrics_and_counts_only_good_runs(tmp_path):
    grid = write_grid(tmp_path)
    sweep = tmp_path / "sweep"
    good = json.dumps(GOOD)
    finished_run(sweep / "seed-0", good)
    finished_run(sweep / "seed-1", good[: len(good) // 2])  # truncated
    finished_run(sweep / "seed-2", None)  # missing
    result = probmoll("sweep", str(grid), "--collect-only")
    assert result.returncode == 0, result.stderr  # one run counted: warnings, status 0
    lines = [line for line in result.stderr.splitlines() if "metrics.json" in line]
    assert len(lines) == 2, result.stderr  # one line per broken run
    truncated, missing = lines
    assert str(sweep / "seed-1" / "metrics.json") in truncated and "not valid JSON" in truncated
    assert str(sweep / "seed-2" / "metrics.json") in missing and "missing" in missing
    assert "Traceback" not in result.stderr

    runs = {row["run"]: row for row in read_csv(sweep / "runs.csv")}
    assert {name: row["status"] for name, row in runs.items()} == {
        "seed-0": "finished",
        "seed-1": "failed",
        "seed-2": "failed",
    }
    assert runs["seed-1"]["clean.error"] == runs["seed-2"]["clean.error"] == ""
    (row,) = read_csv(sweep / "results.csv")
    assert row["n"] == "1"
    assert float(row["clean.error.mean"]) == 0.25 and row["clean.error.std"] == ""
    assert "| 1 | 25.0 |" in (sweep / "results.md").read_text()
    assert not (sweep / SEVERITY_FIGURE).exists()  # no corrupted results: no severity figure


@pytest.mark.parametrize(
    "content,problem",
    [
        ("[1, 2]", "not a mapping"),
        ("", "not valid JSON"),
        ("{]", "not valid JSON"),
    ],
)
def test_collect_only_with_no_counted_run_exits_2(tmp_path, content, problem):
    grid = write_grid(tmp_path, seeds=(0,))
    finished_run(tmp_path / "sweep" / "seed-0", content)
    result = probmoll("sweep", str(grid), "--collect-only")
    assert result.returncode == 2
    assert problem in result.stderr and "no run" in result.stderr
    (row,) = read_csv(tmp_path / "sweep" / "results.csv")  # the tables are still written
    assert row["n"] == "0"


def test_strict_collection_fails_when_a_run_is_not_counted(tmp_path):
    grid = write_grid(tmp_path, seeds=(0, 1))
    finished_run(tmp_path / "sweep" / "seed-0", json.dumps(GOOD))
    assert probmoll("sweep", str(grid), "--collect-only").returncode == 0  # seed-1 not started
    result = probmoll("sweep", str(grid), "--collect-only", "--strict")
    assert result.returncode == 1 and "seed-1" in result.stderr


def test_unknown_metric_stops_the_sweep_before_any_run(tmp_path):
    grid = write_grid(tmp_path, metrics=("clean.eror", "corrupted.mean.nll"))
    result = probmoll("sweep", str(grid))
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "collect.metrics" in line and "'clean.eror'" in line
    assert "clean.error" in line  # a close match ...
    assert "corrupted.by_corruption.<corruption>.<severity>.<cell>" in line  # ... and the patterns
    assert not (tmp_path / "sweep").exists()  # no run folder, no table
    with pytest.raises(ConfigError, match="clean.eror"):
        load_sweep(grid)


@pytest.mark.parametrize(
    "metrics,named",
    [
        ("clean.error", "list"),
        (["clean.error", "clean.error"], "twice"),
        (["corrupted.by_corruption.gaussian_blur.mean.error"], "gaussian_blur"),  # held out
        (["corrupted.by_severity.6.error"], "by_severity.6"),
        (["clean"], "'clean'"),
    ],
)
def test_metric_names_are_checked_against_the_schema(metrics, named):
    with pytest.raises(ConfigError, match=named):
        check_metric_names(metrics)


def test_schema_names_every_number_of_a_real_metrics_json(tmp_path):
    run = tmp_path / "run"
    result = probmoll(
        "train",
        *TINY,
        "epochs=1",
        "eval.every_epochs=0",
        "eval.corruptions=generated",
        "eval.names=[gaussian_noise, speckle_noise]",
        "eval.include_heldout=true",
        "eval.severities=[1, 2]",
        "eval.subset=16",
        f"data.cache_dir={tmp_path / 'cache'}",
        f"out={run}",
    )
    assert result.returncode == 0, result.stderr
    results = read_json(run / "metrics.json")
    # What `probmoll evaluate --reference-errors` adds: mCE and relative mCE.
    path = tmp_path / "reference.json"
    path.write_text(json.dumps({"clean": 0.2, "gaussian_noise": {"1": 0.5, "2": 0.6}}))
    results["corrupted"].update(reference_summary(results, load_reference_errors(path)))

    schema = metric_names()
    keys = [
        key
        for key in numeric_keys(results)
        if key.split(".")[0] in ("clean", "corrupted") or key.startswith("run.")
    ]
    matched = {key: schema.match(key) for key in keys}
    unknown = [key for key, pattern in matched.items() if pattern is None]
    assert [key for key in unknown if not key.startswith("run.")] == []  # run.seed, ...: no metric
    assert set(matched.values()) - {None} == set(METRIC_PATTERNS)  # every pattern produced


def test_metric_names_default_to_any_name():
    names = MetricNames()
    assert names.match("corrupted.by_corruption.my_blur.3.nll") is not None
    assert names.match("corrupted.by_corruption.My-Blur.3.nll") is None
    assert "clean.error" in names.suggest("clean.eror")
    assert len(set(metric_names().expand())) == len(metric_names().expand())


def severity_metrics(clean: float, errors: dict) -> dict:
    """A metrics.json with a clean error and per-severity corrupted errors."""
    by_severity = {str(s): {"error": e, "nll": 2 * e, "ece": e / 10} for s, e in errors.items()}
    return {
        "clean": {"error": clean, "nll": 2 * clean, "ece": clean / 10},
        "corrupted": {
            "mean": {"error": sum(errors.values()) / len(errors)},
            "by_severity": by_severity,
        },
    }


def test_collection_draws_severity_curves_with_the_seed_spread(tmp_path):
    grid = tmp_path / "grid.yaml"
    base = parse_overrides([*TINY, "epochs=1", "eval.every_epochs=0", "out=unused"])
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    spec = {
        "base": "base.yaml",
        "out": str(tmp_path / "sweep"),
        "grid": {"seed": [0, 1], "mollify.enabled": [False, True]},
        "collect": {"over": "seed", "metrics": ["clean.error", "corrupted.mean.error"]},
    }
    grid.write_text(yaml.safe_dump(spec, sort_keys=False))
    runs = {
        ("0", "false"): severity_metrics(0.10, {1: 0.20, 2: 0.40}),
        ("1", "false"): severity_metrics(0.14, {1: 0.30, 2: 0.50}),
        ("0", "true"): severity_metrics(0.12, {1: 0.15, 2: 0.25}),
    }  # seed 1 with mollification is not finished: one run in that setting
    for (seed, enabled), metrics in runs.items():
        finished_run(
            tmp_path / "sweep" / f"seed-{seed}__mollify.enabled-{enabled}", json.dumps(metrics)
        )
    result = probmoll("sweep", str(grid), "--collect-only")
    assert result.returncode == 0, result.stderr
    figure = tmp_path / "sweep" / SEVERITY_FIGURE
    assert figure.is_file() and figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(figure) in result.stdout  # the sweep names the figure it wrote

    # The numbers drawn: mean and sample std (ddof 1) per severity, 0 = clean.
    off = [runs[("0", "false")], runs[("1", "false")]]
    levels, means, stds = severity_spread(off, "error")
    assert levels == [0, 1, 2]
    assert means == pytest.approx([0.12, 0.25, 0.45])
    assert stds == pytest.approx(
        [statistics.stdev([0.10, 0.14]), statistics.stdev([0.2, 0.3]), statistics.stdev([0.4, 0.5])]
    )
    assert severity_spread([runs[("0", "true")]], "nll") == (
        [0, 1, 2],
        pytest.approx([0.24, 0.3, 0.5]),
        [None] * 3,
    )
