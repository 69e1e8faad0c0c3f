"""The paper's tables (1-5, the objective comparisons, the budget trend), ours beside theirs.

Every table reads our numbers from the runs' ``metrics.json`` (mean ± sample standard
deviation over seeds) and the paper's from ``experiments/paper_reference.yaml``, in a
column or a row marked "paper"; its heading names the grid, the dataset and the
corruption set the runs were evaluated on (:func:`experiments.runs.corruption_preset`).
Error and ECE in percent, NLL in nats. Returns Markdown lines. Imported by
``experiments/targets.py``.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from experiments.runs import (
    DATASET_TITLES,
    Run,
    corruption_preset,
    dataset_title,
    format_stat,
    group_runs,
)
from experiments.tables import markdown_lines, paper_value, scale_of
from probmoll.data.corruptions import TABLE2_ORDER
from probmoll.evaluate import SHORT_NAMES

__all__ = [
    "TABLE_METRICS",
    "ablation_lines",
    "budget_lines",
    "common_corruptions",
    "heading",
    "objectives_lines",
    "per_corruption_difference_lines",
    "role_table_lines",
    "table1_lines",
]

# (metrics.json key, column title) of Tables 1, 3 and 5.
TABLE_METRICS = (
    ("clean.error", "clean err (%)"),
    ("corrupted.mean.error", "corr err (%)"),
    ("clean.nll", "clean NLL"),
    ("corrupted.mean.nll", "corr NLL"),
    ("clean.ece", "clean ECE (%)"),
    ("corrupted.mean.ece", "corr ECE (%)"),
)
TABLE_TITLES = {
    "table1": "Table 1",
    "table2": "Table 2",
    "table3": "Table 3",
    "table4": "Table 4",
    "table5": "Table 5",
}
ROLE_ORDER = ("none", "diffusion", "blur", "diff+blur")


def heading(stem: str, runs: Sequence[Run], paper: str, table: str) -> str:
    """``### <dataset> (`grid`); corruptions: <set>; paper: <dataset> (<table>)``."""
    title = dataset_title(runs[0].info.get("config", {})) if runs else "no runs yet"
    text = f"### {title} (`{stem}`); corruptions: {corruption_preset(runs)}"
    if not paper:
        return text
    paper_title = DATASET_TITLES.get(paper, paper)
    return f"{text}; paper: {paper_title} ({TABLE_TITLES.get(table, table)})"


def _ours(runs: Sequence[Run], key: str, with_std: bool = True) -> str:
    scale, digits = scale_of(key)
    values = [v for v in (run.value(key) for run in runs) if v is not None]
    if not values:
        return "-"
    if not with_std:
        return f"{scale * statistics.fmean(values):.{digits}f}"
    return format_stat(values, scale, digits)


def _paper_row(
    reference: Mapping[str, Any], table: str, dataset: str, **labels: Any
) -> Mapping | None:
    for row in (reference.get(table) or {}).get(dataset) or ():
        if all(row.get(k) == v for k, v in labels.items()):
            return row
    return None


def _paper_cell(reference: Mapping[str, Any], table: str, row: Mapping | None, key: str) -> str:
    if row is None:
        return "-"
    if table == "table5":
        mean = paper_value(reference, key, row["mean"][key])
        std = paper_value(reference, key, row["std"][key])
        return f"{mean:g} ({std:g})"
    return f"{paper_value(reference, key, row[key]):g}"


# ------------------------------------------------------------------- Tables 1, 3, 5
def table1_lines(
    runs: Sequence[Run], stem: str, reference: Mapping[str, Any], paper: str, table: str
) -> list[str]:
    """Tables 1, 3 and 5: a row per augmentation and mollification setting; each metric
    ours (mean ± std over seeds) and the paper's (Table 5: mean (std))."""
    lines = [heading(stem, runs, paper, table), ""]
    if not runs:
        return [*lines, "Not run yet.", ""]
    header = ["augment", "moll.", "n"]
    for _, title in TABLE_METRICS:
        header += [title, "paper"]
    rows = []
    for (augment, enabled), members in group_runs(runs, ["augment", "mollify.enabled"]).items():
        on = enabled == "true"
        row = _paper_row(reference, table, paper, augment=augment, mollify=on)
        cells = [augment, "yes" if on else "no", len(members)]
        for key, _ in TABLE_METRICS:
            cells += [_ours(members, key), _paper_cell(reference, table, row, key)]
        rows.append(cells)
    return [*lines, *markdown_lines(header, rows), ""]


# ------------------------------------------------------------ Table 2 and Table 4
def common_corruptions(runs: Sequence[Run]) -> list[str]:
    """The corruption types every run was evaluated on, in Table 2's column order."""
    sets = [set((run.metrics.get("corrupted") or {}).get("by_corruption") or {}) for run in runs]
    common = set.intersection(*sets) if sets else set()
    return [name for name in TABLE2_ORDER if name in common]


def _mean_over(runs: Sequence[Run], names: Sequence[str]) -> str:
    """Error (%) averaged over ``names`` per run, then mean ± std over the runs."""
    values = []
    for run in runs:
        errors = [run.value(f"corrupted.by_corruption.{n}.mean.error") for n in names]
        if errors and None not in errors:
            values.append(statistics.fmean(errors))
    return format_stat(values, 100.0, 1)


def role_table_lines(
    runs: Sequence[Run], stem: str, reference: Mapping[str, Any], paper: str
) -> list[str]:
    """Table 2: error (%) per corruption type for each mollification setting (``none``,
    ``diffusion``, ``blur``, ``diff+blur``), ours then the paper's, on the corruption
    types every run was evaluated on; "mean" is over those types, for the paper's rows
    too (its printed "mean" column also averages the clean column; shown beside)."""
    lines = [heading(stem, runs, paper, "table2"), ""]
    if not runs:
        return [*lines, "Not run yet.", ""]
    names = common_corruptions(runs)
    counts = sorted({int(run.value("clean.count") or 0) for run in runs})
    lines += [
        f"Every row on the same {' / '.join(f'{c:,}' for c in counts)} clean test images "
        "(the first ones of the test set) and their corrupted copies"
        + (
            "."
            if len(counts) == 1
            else " -- WARNING: the rows were evaluated on different numbers of images."
        ),
        "",
    ]
    groups = group_runs(runs, ["mollification"])
    order = [label for label in ROLE_ORDER if (label,) in groups]
    order += [key[0] for key in groups if key[0] not in order]
    header = ["source", "setting", "n", "clean", *(SHORT_NAMES.get(n, n) for n in names), "mean"]
    rows = []
    for label in order:
        members = groups[(label,)]
        cells = ["ours", label, len(members), _ours(members, "clean.error")]
        cells += [_ours(members, f"corrupted.by_corruption.{n}.mean.error") for n in names]
        rows.append([*cells, _mean_over(members, names)])
    for dataset, paper_rows in (reference.get("table2") or {}).items():
        if dataset != paper:
            continue
        for row in paper_rows:
            cells = [f"paper ({DATASET_TITLES.get(dataset, dataset)})", row["mollification"], "-"]
            cells.append(f"{row['clean.error']:g}")
            cells += [f"{row['by_corruption'][n]:g}" for n in names]
            mean = statistics.fmean(row["by_corruption"][n] for n in names)
            cells.append(f"{mean:.1f} (printed: {row['printed_mean']:g})")
            rows.append(cells)
    return [*lines, *markdown_lines(header, rows), ""]


def per_corruption_difference_lines(
    runs: Sequence[Run], stem: str, reference: Mapping[str, Any], paper: str
) -> list[str]:
    """Table 4: error with minus without mollification (percentage points) per corruption
    type and augmentation, paired by seed (mean over seeds), ours then the paper's."""
    lines = [heading(stem, runs, paper, "table4"), ""]
    if not runs:
        return [*lines, "Not run yet.", ""]
    names = common_corruptions(runs)
    keys = ["clean.error", *(f"corrupted.by_corruption.{n}.mean.error" for n in names)]
    header = ["source", "augment", "seeds", "clean", *(SHORT_NAMES.get(n, n) for n in names)]
    header.append("mean")
    rows = []
    by_augment: dict[str, dict[str, dict[str, Run]]] = {}
    for run in runs:
        setting = by_augment.setdefault(run.labels["augment"], {"false": {}, "true": {}})
        setting[run.labels["mollify.enabled"]][run.labels.get("seed", "")] = run
    for augment, setting in by_augment.items():
        seeds = [s for s in setting["false"] if s in setting["true"]]
        if not seeds:
            continue
        cells = ["ours", augment, len(seeds)]
        for key in keys:
            diffs = [
                setting["true"][s].value(key) - setting["false"][s].value(key)
                for s in seeds
                if setting["true"][s].value(key) is not None
                and setting["false"][s].value(key) is not None
            ]
            cells.append(f"{100 * statistics.fmean(diffs):+.1f}" if diffs else "-")
        mean_diffs = []
        for s in seeds:
            on = [setting["true"][s].value(k) for k in keys[1:]]
            off = [setting["false"][s].value(k) for k in keys[1:]]
            if on and None not in on and None not in off:
                mean_diffs.append(statistics.fmean(on) - statistics.fmean(off))
        cells.append(f"{100 * statistics.fmean(mean_diffs):+.1f}" if mean_diffs else "-")
        rows.append(cells)
    for row in (reference.get("table4") or {}).get("imagenet") or ():
        cells = ["paper (ImageNet)", row["augment"], "1", f"{row['clean.error']:+g}"]
        cells += [f"{row['by_corruption'][n]:+g}" for n in names]
        rows.append([*cells, f"{row['corrupted.mean.error']:+g} (15 types)"])
    return [*lines, *markdown_lines(header, rows), ""]


def ablation_lines(runs: Sequence[Run], stem: str, reference: Mapping[str, Any]) -> list[str]:
    """Figs. 6(b, c) as a table: a row per ablation setting with its Beta parameters and
    label-decay powers (read from the runs' configs); the paper prints no numbers."""
    lines = [heading(stem, runs, "", "Fig. 6(b, c)"), ""]
    figures = reference.get("figures") or {}
    for key in ("fig6b", "fig6c"):
        lines.append(f'Paper ({key}): "{(figures.get(key) or {}).get("quote", "")}"')
    lines.append("")
    if not runs:
        return [*lines, "Not run yet.", ""]
    header = ["setting", "alpha", "beta", "k_noise", "k_blur", "n"]
    header += [title for key, title in TABLE_METRICS]
    rows = []
    for (label,), members in group_runs(runs, ["ablation"]).items():
        mollify = members[0].info.get("config", {}).get("mollify", {})
        cells = [label, *(mollify.get(k, "?") for k in ("alpha", "beta", "k_noise", "k_blur"))]
        cells += [len(members), *(_ours(members, key) for key, _ in TABLE_METRICS)]
        rows.append(cells)
    return [*lines, *markdown_lines(header, rows), ""]


# ------------------------------------------------------- objectives and budget
def objectives_lines(
    runs: Sequence[Run],
    stem: str,
    objectives: Sequence[str] | None,
    paper_statement: str,
) -> list[str]:
    """The objectives of Appendices C and D: a row per objective (mean ± std over seeds);
    the paper prints no numbers, only ``paper_statement``."""
    chosen = [r for r in runs if objectives is None or r.labels["objective"] in objectives]
    title = dataset_title(runs[0].info.get("config", {})) if runs else "no runs yet"
    lines = [
        f"### {title} (`{stem}`); corruptions: {corruption_preset(chosen)}",
        "",
        f"Paper: {paper_statement}",
        "",
    ]
    if not chosen:
        return [*lines, "Not run yet.", ""]
    header = ["objective", "n", *(title for _, title in TABLE_METRICS), "paper"]
    rows = []
    groups = group_runs(chosen, ["objective"])
    for (objective,), members in groups.items():
        cells = [objective, len(members), *(_ours(members, key) for key, _ in TABLE_METRICS)]
        rows.append([*cells, "no numbers printed"])
    return [*lines, *markdown_lines(header, rows), ""]


def budget_lines(
    short: Sequence[Run], long: Sequence[Run], reference: Mapping[str, Any], paper: str
) -> list[str]:
    """FCR with mollification off and on at the study's budget and at 4x its epochs: does
    the effect of mollification change with training length? The paper's FCR rows
    (300 epochs) beside."""
    header = ["budget", "moll.", "n", "epochs", *(title for _, title in TABLE_METRICS), "gap (%)"]
    rows = []
    for label, runs in (("1x", short), ("4x", long)):
        for enabled in ("false", "true"):
            members = [r for r in runs if r.labels.get("mollify.enabled") == enabled]
            if not members:
                missing = [label, "yes" if enabled == "true" else "no", 0]
                rows.append(missing + ["-"] * (len(header) - len(missing)))
                continue
            epochs = members[0].info.get("config", {}).get("epochs", "?")
            cells = [label, "yes" if enabled == "true" else "no", len(members), epochs]
            cells += [_ours(members, key) for key, _ in TABLE_METRICS]
            rows.append([*cells, _ours(members, "gap.error")])
    for on in (False, True):
        row = _paper_row(reference, "table1", paper, augment="fcr", mollify=on)
        if row is None:
            continue
        gap = row["corrupted.mean.error"] - row["clean.error"]
        cells = [f"paper ({DATASET_TITLES.get(paper, paper)})", "yes" if on else "no", "-", 300]
        cells += [_paper_cell(reference, "table1", row, key) for key, _ in TABLE_METRICS]
        rows.append([*cells, f"{gap:.1f}"])
    counts = {
        label: sorted({r.value("clean.count") for r in runs if r.value("clean.count")})
        for label, runs in (("1x", short), ("4x", long))
    }
    note = []
    if counts["1x"] != counts["4x"]:
        shown = "; ".join(
            f"{k}: {', '.join(f'{int(c):,}' for c in v) or '-'}" for k, v in counts.items()
        )
        note = [
            f"Test images per budget: {shown}. They differ, so compare the off -> on "
            "differences within each budget, not errors across budgets.",
            "",
        ]
    return [*markdown_lines(header, rows), "", *note]
