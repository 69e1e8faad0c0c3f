"""Tables, comparisons and figures of probmoll's experiments, read from their run folders.

Every number in the report comes from a run's ``metrics.json`` (written by the final
evaluation of ``probmoll train``) and every provenance field from its ``run.json``;
nothing is typed in by hand. The paper's own figures, shown beside ours for comparison,
come from ``experiments/paper_reference.yaml`` (a transcription of its Tables 1-5 and of
what its text says about the figures).

Two steps::

    python experiments/report.py --collect     # copy small run files into results/
    python experiments/report.py               # rebuild results/REPORT.md from results/

``--collect`` copies, for every finished run of each grid, ``metrics.json``, ``run.json``,
``config.yaml`` and ``log.csv`` (no checkpoints; nothing over 300 KB) from the grid's sweep
folder (``runs/<grid>/<run>/``) to ``results/<grid>/<run>/``. The report is then built
from ``results/`` alone, so it can be regenerated from the repository. ``--grid`` selects
other grid files (e.g. the paper-scale ``experiments/grids/paper-*.yaml`` once they ran);
the default is the CPU-scale grids (``DEFAULT_GRIDS``). ``experiments/reproduce.py all``
rebuilds this report too, after running what is missing.

For each grid the report holds: what ran (finished runs out of the grid's points), a
summary table in the layout of the paper's Table 1 (error and ECE in %, NLL in nats; mean
and sample standard deviation over seeds), errors per corruption category
and type (Table 2), metrics per severity (Figs. 9-10), paired differences against a
reference setting with the fraction of seeds that agree in sign, the paper's claims
checked against those differences, the paper's numbers for the same augmentation, a
scatter of clean against corrupted metrics (Fig. 5) and severity curves (mean ± std over
seeds, PNG), and the provenance of every run (command, config, git commit, seed, steps,
wall time, device). Last, every claim of the paper the grids
test, with the verdict rule (``experiments/claim_checks.py``).

This file assembles the report; the parts live beside it: ``experiments/runs.py`` (loading
runs, statistics over seeds, provenance), ``experiments/claims.py`` (the paper's claims
and the paired contrasts), ``experiments/tables.py`` and ``experiments/figures.py``. Their
names are importable from here as well.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script from anywhere: import probmoll from the checkout
    sys.path.insert(0, str(REPO))

from experiments.bayes_outputs import report_lines as bayes_report_lines  # noqa: E402
from experiments.claim_checks import claims_section  # noqa: E402
from experiments.claims import (  # noqa: E402
    EXTRA_CONTRASTS,
    MOLLIFICATION_CLAIMS,
    MOLLIFICATION_CONTRASTS,
    OBJECTIVE_CLAIMS,
    REFERENCE_LABELS,
    Contrast,
    claim_verdict,
    contrasts,
    switches_mollification_on,
)
from experiments.figures import scatter_figure, severity_figure  # noqa: E402
from experiments.runs import (  # noqa: E402
    CIFAR10_JPEG_TITLE,
    DATASET_TITLES,
    KEPT_FILES,
    MAX_COPY_BYTES,
    Run,
    augment_label,
    binomial_se,
    collect_grid,
    command_of,
    dataset_title,
    describe_setup,
    display_path,
    format_stat,
    group_runs,
    is_cifar10_jpeg,
    load_runs,
)
from experiments.study import study_of  # noqa: E402
from experiments.tables import (  # noqa: E402
    SUMMARY_COLUMNS,
    claims_table,
    contrast_table,
    corruption_table,
    markdown_lines,
    objective_claims_table,
    paper_comparison_table,
    paper_fcr_delta,
    paper_rows,
    paper_value,
    per_corruption_contrast_table,
    provenance_table,
    relative_change,
    scale_of,
    severity_table,
    summary_table,
)
from probmoll.train.results import mean_std  # noqa: E402
from probmoll.train.sweep import SweepSpec, load_sweep  # noqa: E402
from probmoll.utils.config import ConfigError  # noqa: E402
from probmoll.utils.io import atomic_write_text, read_json  # noqa: E402

# The report's tables as lists of lines, under the name report.py exports them by.
markdown_table = markdown_lines

__all__ = [
    "CIFAR10_JPEG_TITLE",
    "DATASET_TITLES",
    "DEFAULT_GRIDS",
    "EXTRA_CONTRASTS",
    "KEPT_FILES",
    "MAX_COPY_BYTES",
    "MOLLIFICATION_CLAIMS",
    "MOLLIFICATION_CONTRASTS",
    "OBJECTIVE_CLAIMS",
    "PAPER_REFERENCE",
    "REFERENCE_LABELS",
    "REPO",
    "SUMMARY_COLUMNS",
    "Contrast",
    "Run",
    "augment_label",
    "binomial_se",
    "build_report",
    "claim_verdict",
    "claims_table",
    "collect_grid",
    "command_of",
    "contrast_table",
    "contrasts",
    "corruption_table",
    "dataset_title",
    "describe_setup",
    "display_path",
    "fig3_section",
    "format_stat",
    "grid_description",
    "grid_section",
    "group_runs",
    "is_cifar10_jpeg",
    "load_runs",
    "main",
    "markdown_lines",
    "markdown_table",
    "mean_std",
    "objective_claims_table",
    "paper_comparison_table",
    "paper_fcr_delta",
    "paper_rows",
    "paper_value",
    "per_corruption_contrast_table",
    "provenance_table",
    "relative_change",
    "scale_of",
    "scatter_figure",
    "severity_figure",
    "severity_table",
    "summary_table",
    "switches_mollification_on",
]

DEFAULT_GRIDS = (
    "experiments/grids/cpu-table1-fmnist.yaml",
    "experiments/grids/cpu-table2-fmnist.yaml",
    "experiments/grids/cpu-fig6-fmnist.yaml",
    "experiments/grids/cpu-table1-cifar10-jpeg.yaml",
    "experiments/grids/cpu-budget-fmnist.yaml",
    "experiments/grids/cpu-objectives.yaml",
)
PAPER_REFERENCE = REPO / "experiments" / "paper_reference.yaml"


def grid_description(path: Path) -> str:
    """The first paragraph of the grid file's leading comment."""
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        text = line[1:].strip()
        if not text:
            break
        lines.append(text)
    return " ".join(lines)


def grid_section(spec: SweepSpec, results_dir: Path, reference: Mapping[str, Any]) -> list[str]:
    """The report's section on one grid, as Markdown lines; writes its two figures.

    Parameters
    ----------
    spec : SweepSpec
        The grid, as :func:`probmoll.train.sweep.load_sweep` reads it.
    results_dir : Path
        The folder holding ``<grid>/<run>/`` (the figures go to ``<grid>/``).
    reference : mapping
        The paper's numbers (``experiments/paper_reference.yaml``).
    """
    runs = load_runs(spec, results_dir)
    grid_file = display_path(spec.path)
    lines = [f"## {spec.path.stem}", "", grid_description(spec.path), ""]
    lines += [f"Grid: `{grid_file}`; command: `probmoll sweep {grid_file}`.", ""]
    missing = [p.name for p in spec.points if p.name not in {r.name for r in runs}]
    lines.append(f"Finished runs: {len(runs)} of the grid's {len(spec.points)}.")
    if missing:
        lines.append(
            "Not run (or not finished) here: " + ", ".join(f"`{m}`" for m in missing) + "."
        )
    if runs:
        wall = sum(float(r.info.get("wall_time_s") or 0) for r in runs)
        lines.append(f"Wall time of the finished runs: {wall / 60:.1f} minutes in total.")
    lines.append("")
    if not runs:
        return lines
    axes = [a for a in spec.axes if a != spec.over]
    groups = group_runs(runs, axes)
    lines += ["### Setup", "", *describe_setup(runs), ""]
    lines += [
        "### Summary",
        "",
        "Mean ± sample standard deviation over seeds (n = seeds). Error and ECE in %, NLL "
        "in nats; gap = corrupted - clean error; the last column is the binomial standard "
        "error of the clean error on this many test images (evaluation noise alone, without "
        "seed-to-seed training noise).",
        "",
        *summary_table(groups, axes),
        "",
    ]
    found = contrasts(spec, runs)
    if found:
        lines += [
            "### Paired differences",
            "",
            "Variant minus reference on the same seed, then mean ± standard deviation over "
            "the seeds (negative = lower error/NLL/ECE for the variant; error and ECE in "
            "percentage points).",
            "",
            *contrast_table(found),
            "",
        ]
    claims = claims_table(found, reference)
    if claims:
        lines += [
            "### The paper's claims about mollification, here",
            "",
            "'holds here?' compares the sign of our paired difference with the claim, seed by "
            "seed; the last column gives the paper's own difference (mollification on - off, "
            "FCR, preact-ResNet-50, 300 epochs) from `experiments/paper_reference.yaml`; "
            "error and ECE differences in percentage points.",
            "",
            *claims,
            "",
        ]
    objective_claims = objective_claims_table(found)
    if objective_claims:
        lines += [
            '### The paper\'s "no improvement" statements (Appendices C and D), here',
            "",
            "Error differences in percentage points; 'yes' means the variant was not better "
            "on any seed. With two seeds and 1,000 test images, differences within about "
            "two points of clean error are not distinguishable from noise.",
            "",
            *objective_claims,
            "",
        ]
    per_corruption = per_corruption_contrast_table(found)
    if per_corruption:
        lines += [
            "### Error difference per corruption type (percentage points, as Table 4)",
            "",
            *per_corruption,
            "",
        ]
    categories = corruption_table(groups, axes)
    if categories:
        lines += ["### Error per corruption category and type (%, as Table 2)", "", *categories, ""]
    for metric, title in (("error", "Error (%)"), ("nll", "NLL"), ("ece", "ECE (%)")):
        table = severity_table(groups, axes, metric)
        if table:
            lines += [f"### {title} per severity (0 = clean; Figs. 9-10)", "", *table, ""]
    comparison = paper_comparison_table(groups, axes, reference)
    lines += [
        "### Beside the paper's numbers",
        "",
        "Different data, model size and training budget: compare directions and gaps, not "
        "levels. The paper's ECE (a fraction in its tables) is shown in % like ours.",
        "",
        *comparison,
        "",
    ]
    folder = results_dir / spec.path.stem
    scatter = scatter_figure(groups, axes, folder / "clean_vs_corrupted.png")
    severity = severity_figure(groups, folder / "severity.png")
    lines += [
        "### Figures",
        "",
        f"![clean vs corrupted]({scatter.relative_to(results_dir)})",
        f"![metrics per severity]({severity.relative_to(results_dir)})",
        "",
        "### Provenance",
        "",
        *provenance_table(runs, results_dir, spec),
        "",
    ]
    return lines


def fig3_section(results_dir: Path) -> list[str]:
    """Fig. 3: the PNG information curves in ``results/fig3/*.json``, with a linear fit."""
    files = sorted((results_dir / "fig3").glob("fig3_*.json"))
    if not files:
        return []
    lines = [
        "## Fig. 3: PNG information removed by the heat blur",
        "",
        "`1 - size(x_t.png) / size(x_0.png)` averaged over images, against the blur "
        "temperature t (Eq. 6 schedule, sigma from 0.3 pixels to the image width); the paper "
        "finds it about linear in t on TinyImageNet, which motivates `gamma_blur = t^k` "
        "(Eq. 13, read as in docs/paper-readings.md, reading 1). Least-squares line over the "
        "grid of t:",
        "",
    ]
    rows = []
    for path in files:
        curve = read_json(path)
        fit = curve["linear_fit_of_information_removed"]
        rows.append(
            [
                curve["dataset"],
                curve["images"],
                "x".join(str(d) for d in curve["image_shape"]),
                f"{fit['slope']:.3f}",
                f"{fit['intercept']:.3f}",
                f"{fit['r2']:.3f}",
                f"{fit['max_abs_residual']:.3f}",
                f"`{curve.get('command', '?')}` at `{curve.get('git_commit')}`",
                f"![{curve['dataset']}]({path.with_suffix('.png').relative_to(results_dir)})",
            ]
        )
    header = ["dataset", "images", "C x H x W", "slope", "intercept", "R^2", "worst residual"]
    lines += markdown_lines([*header, "command", "figure"], rows)
    return [*lines, ""]


def build_report(grids: Sequence[Path], results_dir: Path) -> str:
    """The whole report: a section per grid file in ``grids``, then Fig. 3 if measured."""
    reference = yaml.safe_load(PAPER_REFERENCE.read_text())
    lines = [
        "# probmoll experiment results",
        "",
        "Generated by `python experiments/report.py` from the run files under `results/` "
        "(copied from the run folders by `--collect`); do not edit by hand. What each grid "
        "reproduces, and what was not run, is in `experiments/README.md`.",
        "",
    ]
    runs_by_grid: dict[str, list[Run]] = {}
    studies: dict[str, list[str]] = {}
    for grid in grids:
        try:
            spec = load_sweep(grid)
        except (ConfigError, OSError) as error:
            lines += [f"## {Path(grid).stem}", "", f"The grid cannot be read: {error}", ""]
            continue
        lines += grid_section(spec, results_dir, reference)
        study = study_of(spec.path.stem)
        if study is not None:
            studies.setdefault(study, []).append(spec.path.stem)
            runs_by_grid[spec.path.stem] = load_runs(spec, results_dir)
    if studies:
        lines += claims_section(runs_by_grid, studies, reference)
    lines += fig3_section(results_dir)
    lines += bayes_report_lines(results_dir)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``--collect``, ``--grid``, ``--results``, ``--out``; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--grid",
        action="append",
        type=Path,
        help="grid file(s) to report (default: the CPU grids run on this machine)",
    )
    parser.add_argument(
        "--collect",
        action="store_true",
        help="first copy the small files of finished runs from the sweep folders to --results",
    )
    parser.add_argument("--results", type=Path, default=REPO / "results", help="results folder")
    parser.add_argument(
        "--out", type=Path, default=None, help="report file (default: RESULTS/REPORT.md)"
    )
    args = parser.parse_args(argv)
    grids = [Path(g).resolve() for g in (args.grid or [REPO / g for g in DEFAULT_GRIDS])]
    results_dir = args.results.resolve()
    if args.collect:
        for grid in grids:
            copied = collect_grid(load_sweep(grid), results_dir)
            print(f"{grid.name}: copied {len(copied)} finished run(s) to {results_dir / grid.stem}")
    out = args.out or results_dir / "REPORT.md"
    atomic_write_text(out, build_report(grids, results_dir))
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
