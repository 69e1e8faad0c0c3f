"""experiments/report.py and experiments/fig3_png_information.py on real (tiny) runs.

A grid of four tiny training runs (mollification off/on x 2 seeds, synthetic gratings,
two generated corruptions at two severities) is trained with the real sweep; the report
must copy only the small run files, and every number it prints must be the one in the
runs' metrics.json, with each run's seed, command and git commit.
"""

from __future__ import annotations

import importlib.util
import json
import math
import statistics
import sys
from pathlib import Path

import pytest
import yaml
from scipy import stats

from probmoll.train.sweep import load_sweep, run_sweep

REPO = Path(__file__).resolve().parents[2]


def load_script(name: str):
    """Import experiments/<name>.py as a module (experiments/ is not a package)."""
    path = REPO / "experiments" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"experiments_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


report = load_script("report")

TINY_BASE = {
    "out": "unused",
    "epochs": 1,
    "batch_size": 32,
    "threads": 1,
    "device": "cpu",
    "progress": False,
    "checkpoint_every_steps": 0,
    "data": {"name": "synthetic", "options": {"n": 128, "num_classes": 4}},
    "model": {"name": "preact_resnet18", "kwargs": {"width": 4}},
    "optim": {"lr": 0.05},
    "eval": {
        "corruptions": "generated",
        "names": ["gaussian_noise", "contrast"],
        "severities": [1, 2],
        "subset": 32,
        "batch_size": 32,
        "every_epochs": 0,
    },
}


@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory):
    """Four finished tiny runs and the report built from them."""
    root = tmp_path_factory.mktemp("experiment")
    base = dict(TINY_BASE, data=dict(TINY_BASE["data"], cache_dir=str(root / "cache")))
    (root / "base.yaml").write_text(yaml.safe_dump(base))
    grid = {
        "base": "base.yaml",
        "out": str(root / "runs" / "tiny"),
        "grid": {"seed": [0, 1], "mollify.enabled": [False, True]},
    }
    (root / "tiny.yaml").write_text("# A tiny grid.\n" + yaml.safe_dump(grid, sort_keys=False))
    spec = load_sweep(root / "tiny.yaml")
    with open(root / "sweep.log", "w") as log:
        statuses = run_sweep(spec, log=log)
    assert set(statuses.values()) == {"finished"}
    results = root / "results"
    argv = ["--grid", str(root / "tiny.yaml"), "--collect", "--results", str(results)]
    assert report.main(argv) == 0
    return spec, results, (results / "REPORT.md").read_text()


def metrics_of(results: Path, name: str) -> dict:
    return json.loads((results / "tiny" / name / "metrics.json").read_text())


def test_collect_copies_only_small_run_files(tiny_sweep):
    spec, results, _ = tiny_sweep
    for point in spec.points:
        copied = sorted(p.name for p in (results / "tiny" / point.name).iterdir())
        assert copied == sorted(report.KEPT_FILES)
        assert (Path(point.config.out) / "checkpoint.pt").is_file()  # left behind
    for path in (results / "tiny").rglob("*"):
        assert path.stat().st_size <= report.MAX_COPY_BYTES


# The summary columns, looked up in metrics.json independently of the report's code.
COLUMN_VALUES = {
    "clean.error": lambda m: m["clean"]["error"],
    "corrupted.mean.error": lambda m: m["corrupted"]["mean"]["error"],
    "gap.error": lambda m: m["corrupted"]["mean"]["error"] - m["clean"]["error"],
    "clean.nll": lambda m: m["clean"]["nll"],
    "corrupted.mean.nll": lambda m: m["corrupted"]["mean"]["nll"],
    "clean.ece": lambda m: m["clean"]["ece"],
    "corrupted.mean.ece": lambda m: m["corrupted"]["mean"]["ece"],
}


def test_summary_rows_are_the_metrics_json_numbers(tiny_sweep):
    _, results, text = tiny_sweep
    assert [key for key, *_ in report.SUMMARY_COLUMNS] == list(COLUMN_VALUES)
    for enabled in ("false", "true"):
        runs = [metrics_of(results, f"seed-{s}__mollify.enabled-{enabled}") for s in (0, 1)]
        cells = [enabled, "2"]
        for key, _, scale, digits in report.SUMMARY_COLUMNS:
            values = [scale * COLUMN_VALUES[key](m) for m in runs]
            mean, std = statistics.fmean(values), statistics.stdev(values)
            cells.append(f"{mean:.{digits}f} ± {std:.{digits}f}")
        assert "| " + " | ".join(cells) + " |" in text


def test_paired_differences_and_claims_follow_the_seeds(tiny_sweep):
    _, results, text = tiny_sweep
    diffs = []
    for seed in (0, 1):
        off = metrics_of(results, f"seed-{seed}__mollify.enabled-false")
        on = metrics_of(results, f"seed-{seed}__mollify.enabled-true")
        diffs.append(on["corrupted"]["mean"]["error"] - off["corrupted"]["mean"]["error"])
    mean = statistics.fmean(100 * d for d in diffs)
    std = statistics.stdev(100 * d for d in diffs)
    expected = f"{mean:.1f} ± {std:.1f}"
    line = next(row for row in text.splitlines() if row.startswith("| `true` - `false`"))
    assert (expected if mean < 0 else "+" + expected) in line
    verdict = report.claim_verdict(diffs, -1)
    claim = "| corrupted error decreases [true vs false] | Sec. 4.1, Table 1 | "
    rows = [row for row in text.splitlines() if row.startswith(claim)]
    assert len(rows) == 1
    cells = [cell.strip() for cell in rows[0].strip("|").split("|")]
    # claim, where, our difference, relative to reference, holds here?, paper
    assert cells[2] == expected
    assert cells[4] == verdict


def test_provenance_names_seed_command_config_and_commit(tiny_sweep):
    spec, results, text = tiny_sweep
    for point in spec.points:
        info = json.loads((results / "tiny" / point.name / "run.json").read_text())
        row = next(r for r in text.splitlines() if r.startswith(f"| {point.name} |"))
        assert f"| {point.config.seed} |" in row
        assert f"`{info['git_commit']}`" in row
        assert f"results/tiny/{point.name}/config.yaml" in row
        assert report.command_of(info) in row
    assert (results / "tiny" / "clean_vs_corrupted.png").stat().st_size < 300_000
    assert (results / "tiny" / "severity.png").stat().st_size < 300_000


def test_per_corruption_and_severity_tables_read_metrics(tiny_sweep):
    _, results, text = tiny_sweep
    runs = [metrics_of(results, f"seed-{s}__mollify.enabled-true") for s in (0, 1)]
    contrast = statistics.fmean(
        100 * m["corrupted"]["by_corruption"]["contrast"]["mean"]["error"] for m in runs
    )
    severity_two = [100 * m["corrupted"]["by_severity"]["2"]["error"] for m in runs]
    assert f"{statistics.fmean(severity_two):.1f} ± {statistics.stdev(severity_two):.1f}" in text
    assert f"{contrast:.1f} ± " in text


@pytest.mark.parametrize(
    ("differences", "sign", "verdict"),
    [
        ([-0.1, -0.2], -1, "yes (2/2 seeds)"),
        ([0.1, 0.2], -1, "no (2/2 seeds go the other way)"),
        ([0.1], -1, "no"),
        ([-0.1, 0.2, -0.3], -1, "mixed (2/3 seeds)"),
        ([0.1, 0.2], +1, "yes (2/2 seeds)"),
        ([], -1, "no data"),
    ],
)
def test_claim_verdicts(differences, sign, verdict):
    assert report.claim_verdict(differences, sign) == verdict


def test_helpers_against_references():
    # binomial standard error of an error rate = std of Binomial(n, p) / n
    for p, n in [(0.1, 1000), (0.5, 64), (0.02, 10_000)]:
        assert report.binomial_se(p, n) == pytest.approx(stats.binom(n, p).std() / n)
    mean, std = report.mean_std([1.0, 2.0, 4.0])
    assert (mean, std) == (pytest.approx(7 / 3), pytest.approx(statistics.stdev([1, 2, 4])))
    assert report.mean_std([3.0]) == (3.0, None)
    assert report.format_stat([0.1, 0.3], 100, 1) == f"20.0 ± {100 * math.sqrt(0.02):.1f}"
    jpeg = {"data": {"name": "folder", "root": "/work/shared/data/cifar10-jpeg.zip"}}
    assert report.dataset_title(jpeg) == "CIFAR-10 (JPEG copy)"
    assert report.dataset_title({"data": {"name": "cifar10"}}) == "CIFAR-10"
    assert report.augment_label({"augment": {"policy": "fcr", "mix": "cutmix"}}) == "fcr+cutmix"
    assert report.augment_label({"augment": {"policy": "fcr+trivaug", "mix": "none"}}) == (
        "fcr+trivaug"
    )
    info = {"command": ["/x/probmoll/__main__.py", "train", "--config", "a.yaml", "seed=1"]}
    assert report.command_of(info) == "probmoll train --config a.yaml seed=1"


def test_paper_fcr_differences_come_from_the_reference_file():
    reference = {
        "table1": {
            "cifar10": [
                {
                    "augment": "fcr",
                    "mollify": False,
                    "clean.error": 5.0,
                    "corrupted.mean.error": 21.9,
                },
                {
                    "augment": "fcr",
                    "mollify": True,
                    "clean.error": 5.8,
                    "corrupted.mean.error": 10.2,
                },
            ]
        }
    }
    assert report.paper_fcr_delta(reference, "corrupted.mean.error") == "CIFAR-10 -11.7"
    # gap: (10.2 - 5.8) - (21.9 - 5.0) = -12.5
    assert report.paper_fcr_delta(reference, "gap.error") == "CIFAR-10 -12.5"


def test_objective_claims_read_the_paired_differences():
    """Appendix C/D statements: 'yes' when the variant is worse on every seed."""

    def run(name, seed, clean, corrupted):
        metrics = {"clean": {"error": clean}, "corrupted": {"mean": {"error": corrupted}}}
        labels = {"seed": str(seed), "objective": name}
        return report.Run(f"{name}-{seed}", labels, Path("."), metrics, {})

    pairs = tuple(
        (run("smooth-lme-k4", s, 0.30, 0.50), run("smooth-dk-k4", s, clean, corrupted))
        for s, clean, corrupted in [(0, 0.31, 0.49), (1, 0.32, 0.48)]
    )
    contrast = report.Contrast("objective", "smooth-lme-k4", "smooth-dk-k4", (), pairs)
    text = "\n".join(report.objective_claims_table([contrast]))
    assert "| the bias correction does not lower corrupted error | Sec. 5, Appendix D |" in text
    assert "| -1.5 ± 0.7 | no (2/2 seeds go the other way) |" in text
    assert "| 1.5 ± 0.7 | yes (2/2 seeds) |" in text
    assert report.objective_claims_table([]) == []


def test_fig3_curve_on_synthetic_images(tmp_path):
    fig3 = load_script("fig3_png_information")
    out = tmp_path / "fig3"
    argv = ["--data", "synthetic", "--images", "8", "--points", "5", "--out", str(out)]
    assert fig3.main(argv) == 0
    summary = json.loads((out / "fig3_synthetic.json").read_text())
    assert summary["t"] == pytest.approx([0, 0.25, 0.5, 0.75, 1])
    assert summary["command"].endswith(" ".join(argv))
    removed = summary["information_removed_mean"]
    assert len(removed) == 5 and all(0 <= r <= 1 for r in removed)
    # blurring to the image width removes most of the PNG-compressed information
    assert removed[-1] > 0.5 > removed[0]
    fit = summary["linear_fit_of_information_removed"]
    slope, intercept = stats.linregress(summary["t"], removed)[:2]
    assert (fit["slope"], fit["intercept"]) == (pytest.approx(slope), pytest.approx(intercept))
    assert (out / "fig3_synthetic.png").stat().st_size < 300_000
    assert fig3.dataset_label("folder", "/data/cifar10-jpeg.zip") == "CIFAR-10 (JPEG copy)"
    section = "\n".join(report.fig3_section(tmp_path))
    assert f"| synthetic | 8 | 3x32x32 | {fit['slope']:.3f} | {fit['intercept']:.3f} |" in section


def test_corruption_table_orders_columns_as_table_2():
    """Categories and types in the paper's Table 2 order, not the order of metrics.json."""
    from probmoll.data.corruptions import CORRUPTION_CATEGORIES, TABLE2_ORDER

    names = [name for members in CORRUPTION_CATEGORIES.values() for name in members]
    corrupted = {
        "categories": {c: list(m) for c, m in CORRUPTION_CATEGORIES.items()},
        "by_category": {c: {"error": 0.5} for c in CORRUPTION_CATEGORIES},
        "by_corruption": {n: {"mean": {"error": i / 100}} for i, n in enumerate(names)},
        "mean": {"error": 0.5},
    }
    metrics = {"clean": {"error": 0.1}, "corrupted": corrupted}
    run = report.Run("r", {"seed": "0", "a": "x"}, Path("."), metrics, {})
    header, _, row = report.corruption_table({("x",): [run]}, ["a"])
    columns = [cell.strip() for cell in header.strip("|").split("|")]
    assert columns[:6] == ["a", "clean", "**noise**", "**blur**", "**weather**", "**digital**"]
    assert columns[6:-1] == list(TABLE2_ORDER) and columns[-1] == "mean"
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[6:-1] == [f"{names.index(n):.1f}" for n in TABLE2_ORDER]


def test_tables_show_error_and_ece_in_percent_with_the_unit_in_the_header():
    """Error and ECE in percent everywhere, labelled "(%)"; NLL without a unit."""

    def run(seed, ece):
        cells = {"error": 0.25, "nll": 0.8, "ece": ece}
        metrics = {
            "clean": {"error": 0.1, "nll": 0.3, "ece": ece / 2, "count": 100},
            "corrupted": {"mean": cells, "severities": [1], "by_severity": {"1": cells}},
        }
        labels = {"seed": str(seed), "mollify.enabled": "true" if ece < 0.1 else "false"}
        config = {"augment": {"policy": "none"}}
        return report.Run(f"r{seed}", labels, Path("."), metrics, {"config": config})

    for key, title, scale, _ in report.SUMMARY_COLUMNS:
        percent = key.endswith(("error", "ece"))
        assert title.endswith("(%)") == percent and scale == (100.0 if percent else 1.0), title
    groups = {("false",): [run(0, 0.125), run(1, 0.125)], ("true",): [run(0, 0.0625)]}
    header, _, row, _ = report.summary_table(groups, ["mollify.enabled"])
    columns = [cell.strip() for cell in header.strip("|").split("|")]
    assert columns[-3:] == ["clean ECE (%)", "corr ECE (%)", "clean err s.e. (%)"]
    assert row.endswith("| 6.2 ± 0.0 | 12.5 ± 0.0 | 3.0 |")
    severity = report.severity_table(groups, ["mollify.enabled"], "ece")
    assert severity[2] == "| false | 6.2 ± 0.0 | 12.5 ± 0.0 |"
    # The paper's ECE (a fraction in paper_reference.yaml) converted to percent beside ours.
    reference = {
        "units": {"error": "percent", "nll": "nats", "ece": "fraction"},
        "table1": {
            "cifar10": [
                {"augment": "none", "mollify": m, "clean.error": 11.7, "corrupted.mean.error": e,
                 "clean.nll": 0.48, "corrupted.mean.nll": 1.35, "clean.ece": 0.09,
                 "corrupted.mean.ece": c}
                for m, e, c in ((False, 29.2, 0.22), (True, 21.4, 0.14))
            ]
        },
    }  # fmt: skip
    lines = report.paper_comparison_table(groups, ["mollify.enabled"], reference)
    columns = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert columns[-2:] == ["clean ECE (%)", "corr ECE (%)"]
    paper = [line for line in lines if line.startswith("| paper: CIFAR-10 | none | no |")]
    assert paper == ["| paper: CIFAR-10 | none | no | 11.7 | 29.2 | 0.48 | 1.35 | 9 | 22 |"]
    assert report.paper_fcr_delta(
        {"table1": {"c": [dict(r, augment="fcr") for r in reference["table1"]["cifar10"]]},
         "units": reference["units"]},
        "corrupted.mean.ece",
    ) == "c -8"  # fmt: skip
    pairs = ((run(0, 0.125), run(0, 0.0625)),)
    contrast = report.Contrast("mollify.enabled", "false", "true", (), pairs)
    differences = report.contrast_table([contrast])
    assert "| -6.2 |" in differences[2]  # corrupted ECE, percentage points
    claims = "\n".join(report.claims_table([contrast], reference))
    assert "| corrupted ECE decreases (by 20-40%) [true vs false] | Sec. 4.1 | -6.2 |" in claims
