"""The Markdown tables of the experiment report, as lists of lines.

Every table is written with :func:`probmoll.utils.tables.markdown_table`; the numbers are
those of the runs' ``metrics.json`` (mean ± sample standard deviation over seeds) and of
the paper's Tables 1 and 3 as transcribed in ``experiments/paper_reference.yaml``.
Error and ECE are shown in percent (differences in percentage points) with "(%)" in the
header, as in every table of probmoll; NLL in nats. ``metrics.json`` holds fractions, and
the paper's ECE, a fraction in its tables, is converted to percent here.
Imported by ``experiments/report.py`` as ``experiments.tables``, with the repository on
``sys.path``.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from experiments.claims import (
    MOLLIFICATION_CLAIMS,
    OBJECTIVE_CLAIMS,
    Contrast,
    claim_verdict,
    switches_mollification_on,
)
from experiments.runs import (
    DATASET_TITLES,
    Run,
    augment_label,
    binomial_se,
    command_of,
    dataset_title,
    display_path,
    format_stat,
)
from probmoll.evaluate import grouped_corruptions
from probmoll.utils.tables import markdown_table

if TYPE_CHECKING:
    from probmoll.train.sweep import SweepSpec

__all__ = [
    "PERCENT_METRICS",
    "SUMMARY_COLUMNS",
    "claims_table",
    "contrast_table",
    "corruption_table",
    "markdown_lines",
    "objective_claims_table",
    "paper_comparison_table",
    "paper_fcr_delta",
    "paper_rows",
    "paper_value",
    "per_corruption_contrast_table",
    "provenance_table",
    "relative_change",
    "scale_of",
    "severity_table",
    "summary_table",
]

# (metrics.json key, column title, scale, decimals): error and ECE in percent.
SUMMARY_COLUMNS = (
    ("clean.error", "clean err (%)", 100.0, 1),
    ("corrupted.mean.error", "corr err (%)", 100.0, 1),
    ("gap.error", "gap (%)", 100.0, 1),
    ("clean.nll", "clean NLL", 1.0, 3),
    ("corrupted.mean.nll", "corr NLL", 1.0, 3),
    ("clean.ece", "clean ECE (%)", 100.0, 1),
    ("corrupted.mean.ece", "corr ECE (%)", 100.0, 1),
)
# Metrics (the last part of a key) shown in percent.
PERCENT_METRICS = ("error", "ece")

Groups = Mapping[tuple[str, ...], list[Run]]


def markdown_lines(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    """:func:`probmoll.utils.tables.markdown_table` as a list of lines."""
    return markdown_table(header, rows).split("\n")


def scale_of(key: str) -> tuple[float, int]:
    """``(scale, decimals)`` of a metric key: error and ECE in percent to 0.1, else 3 decimals."""
    return (100.0, 1) if key.endswith(PERCENT_METRICS) else (1.0, 3)


# --------------------------------------------------------------- our runs, by setting
def summary_table(groups: Groups, axes: Sequence[str]) -> list[str]:
    """The columns of ``SUMMARY_COLUMNS`` per setting, with the binomial standard error
    of the clean error (evaluation noise alone)."""
    header = [*axes, "n", *(title for _, title, _, _ in SUMMARY_COLUMNS), "clean err s.e. (%)"]
    rows = []
    for key, members in groups.items():
        cells = [*key, len(members)]
        for metric, _, scale, digits in SUMMARY_COLUMNS:
            values = [v for v in (r.value(metric) for r in members) if v is not None]
            cells.append(format_stat(values, scale, digits))
        errors = [r.value("clean.error") for r in members]
        count = members[0].value("clean.count")
        if count and all(e is not None for e in errors):
            cells.append(f"{100 * binomial_se(statistics.fmean(errors), int(count)):.1f}")
        else:
            cells.append("-")
        rows.append(cells)
    return markdown_lines(header, rows)


def corruption_table(groups: Groups, axes: Sequence[str]) -> list[str]:
    """Error (%) per category and per corruption type, mean over severities, with the
    categories and the types in the column order of the paper's Table 2 (``TABLE2_ORDER``,
    as probmoll.evaluate orders them)."""
    first = next(iter(groups.values()))[0].metrics.get("corrupted", {})
    ordered = grouped_corruptions({"": {"corrupted": {"categories": first.get("categories")}}})
    categories = [category for category, _ in ordered]
    names = [n for _, members in ordered for n in members]
    if not names:
        return []
    header = [*axes, "clean", *(f"**{c}**" for c in categories), *names, "mean"]
    rows = []
    for key, members in groups.items():
        cells = [*key, format_stat([r.value("clean.error") for r in members], 100, 1)]
        keys = [f"corrupted.by_category.{c}.error" for c in categories]
        keys += [f"corrupted.by_corruption.{n}.mean.error" for n in names]
        keys.append("corrupted.mean.error")
        for metric in keys:
            values = [v for v in (r.value(metric) for r in members) if v is not None]
            cells.append(format_stat(values, 100, 1))
        rows.append(cells)
    return markdown_lines(header, rows)


def severity_table(groups: Groups, axes: Sequence[str], metric: str) -> list[str]:
    """One metric per severity (0 = clean), mean over corruption types (Figs. 9-10); error
    and ECE in percent."""
    severities = next(iter(groups.values()))[0].metrics.get("corrupted", {}).get("severities")
    if not severities:
        return []
    scale, digits = scale_of(metric)
    header = [*axes, "0 (clean)", *(str(s) for s in severities)]
    rows = []
    for key, members in groups.items():
        cells = [*key, format_stat([r.value(f"clean.{metric}") for r in members], scale, digits)]
        for s in severities:
            values = [r.value(f"corrupted.by_severity.{s}.{metric}") for r in members]
            cells.append(format_stat([v for v in values if v is not None], scale, digits))
        rows.append(cells)
    return markdown_lines(header, rows)


# ---------------------------------------------------------- contrasts and claims
def contrast_table(found: Sequence[Contrast]) -> list[str]:
    """The paired differences of every contrast in the columns of ``SUMMARY_COLUMNS``."""
    header = ["variant - reference", "context", "seeds", *(t for _, t, _, _ in SUMMARY_COLUMNS)]
    header.append("what it measures")
    rows = []
    for contrast in found:
        context = ", ".join(f"{a}={v}" for a, v in contrast.context) or "-"
        cells = [f"`{contrast.variant}` - `{contrast.reference}`", context, len(contrast.pairs)]
        for metric, _, scale, digits in SUMMARY_COLUMNS:
            diffs = contrast.differences(metric)
            text = format_stat(diffs, scale, digits)
            cells.append(text if text.startswith("-") or text == "-" else "+" + text)
        cells.append(contrast.meaning or f"{contrast.axis}: {contrast.variant}")
        rows.append(cells)
    return markdown_lines(header, rows)


def per_corruption_contrast_table(found: Sequence[Contrast]) -> list[str]:
    """Error differences (percentage points) per corruption type, as in Table 4."""
    chosen = [c for c in found if switches_mollification_on(c)]
    if not chosen:
        return []
    categories = chosen[0].pairs[0][0].metrics.get("corrupted", {}).get("categories") or {}
    names = [n for members in categories.values() for n in members]
    header = ["variant - reference", "context", "clean", *names, "mean"]
    rows = []
    for contrast in chosen:
        context = ", ".join(f"{a}={v}" for a, v in contrast.context) or "-"
        cells = [f"`{contrast.variant}` - `{contrast.reference}`", context]
        keys = ["clean.error", *(f"corrupted.by_corruption.{n}.mean.error" for n in names)]
        keys.append("corrupted.mean.error")
        for key in keys:
            diffs = contrast.differences(key)
            cells.append(f"{100 * statistics.fmean(diffs):+.1f}" if diffs else "-")
        rows.append(cells)
    return markdown_lines(header, rows)


def claims_table(found: Sequence[Contrast], reference: Mapping[str, Any]) -> list[str]:
    """The paper's claims about mollification against our paired differences."""
    chosen = [c for c in found if switches_mollification_on(c)]
    if not chosen:
        return []
    header = [
        "claim (paper)",
        "where",
        "our difference",
        "relative to reference",
        "holds here?",
        "paper, FCR rows (on - off)",
    ]
    rows = []
    for contrast in chosen:
        for metric, sign, claim, where in MOLLIFICATION_CLAIMS:
            scale, digits = scale_of(metric)
            diffs = contrast.differences(metric)
            label = f"{claim} [{contrast.variant} vs {contrast.reference}"
            label += "".join(f", {a}={v}" for a, v in contrast.context) + "]"
            rows.append(
                [
                    label,
                    where,
                    format_stat(diffs, scale, digits),
                    relative_change(contrast, metric),
                    claim_verdict(diffs, sign),
                    paper_fcr_delta(reference, metric),
                ]
            )
    return markdown_lines(header, rows)


def objective_claims_table(found: Sequence[Contrast]) -> list[str]:
    """The paper's "no improvement" statements (Appendices C, D) against our differences."""
    header = ["claim (paper)", "where", "variant - reference", "our difference", "holds here?"]
    rows = []
    for reference, variant, metric, sign, claim, where in OBJECTIVE_CLAIMS:
        for contrast in found:
            if (contrast.axis, contrast.reference, contrast.variant) != (
                "objective",
                reference,
                variant,
            ):
                continue
            diffs = contrast.differences(metric)
            rows.append(
                [
                    claim,
                    where,
                    f"`{variant}` - `{reference}`",
                    format_stat(diffs, *scale_of(metric)),
                    claim_verdict(diffs, sign),
                ]
            )
    return markdown_lines(header, rows) if rows else []


def relative_change(contrast: Contrast, key: str) -> str:
    """Mean over seeds of (variant - reference) / reference, in percent."""
    ratios = []
    for reference, variant in contrast.pairs:
        a, b = reference.value(key), variant.value(key)
        if a is not None and b is not None and a != 0:
            ratios.append((b - a) / abs(a))
    return f"{100 * statistics.fmean(ratios):+.0f}%" if ratios else "-"


# ------------------------------------------------------------ the paper's numbers
def paper_rows(reference: Mapping[str, Any], augment: str) -> list[tuple[str, Mapping]]:
    """``(dataset, row)`` of the paper's Tables 1/3 for one augmentation, both settings."""
    out = []
    for table in ("table1", "table3"):
        for dataset, rows in (reference.get(table) or {}).items():
            out += [(dataset, row) for row in rows if row["augment"] == augment]
    return out


def paper_value(reference: Mapping[str, Any], metric: str, value: float) -> float:
    """A number of the paper in the report's unit: a fraction (``units`` of
    ``paper_reference.yaml``) of a metric shown in percent is multiplied by 100."""
    unit = (reference.get("units") or {}).get(metric.rsplit(".", 1)[-1])
    percent = metric.endswith(PERCENT_METRICS) and unit == "fraction"
    return round(100 * value, 6) if percent else value


def paper_fcr_delta(reference: Mapping[str, Any], metric: str) -> str:
    """The paper's on - off difference of a metric for FCR, per dataset of Table 1, error
    and ECE in percentage points, to the precision the paper prints."""
    parts = []
    for dataset, rows in (reference.get("table1") or {}).items():
        by_setting = {row["mollify"]: row for row in rows if row["augment"] == "fcr"}
        off, on = by_setting.get(False), by_setting.get(True)
        if off is None or on is None:
            continue
        if metric.startswith("gap."):
            name = metric.split(".", 1)[1]
            value = (on[f"corrupted.mean.{name}"] - on[f"clean.{name}"]) - (
                off[f"corrupted.mean.{name}"] - off[f"clean.{name}"]
            )
        else:
            value = on[metric] - off[metric]
        value = paper_value(reference, metric, value)
        # The paper prints error to 0.1 %, NLL and ECE to 0.01 (ECE: whole percents).
        digits = 1 if "error" in metric else 0 if metric.endswith("ece") else 2
        parts.append(f"{DATASET_TITLES.get(dataset, dataset)} {value:+.{digits}f}")
    return "; ".join(parts) or "-"


def paper_comparison_table(
    groups: Groups, axes: Sequence[str], reference: Mapping[str, Any]
) -> list[str]:
    """Our rows next to the paper's rows with the same augmentation and mollification."""
    header = [
        "source",
        "augment",
        "moll.",
        *(t for k, t, _, _ in SUMMARY_COLUMNS if k != "gap.error"),
    ]
    keys = [k for k, _, _, _ in SUMMARY_COLUMNS if k != "gap.error"]
    rows = []
    augments = []
    for key, members in groups.items():
        config = members[0].info.get("config", {})
        augment = augment_label(config)
        augments.append(augment)
        enabled = config.get("mollify", {}).get("enabled", True)
        label = ", ".join(f"{a}={v}" for a, v in zip(axes, key, strict=True))
        cells = [f"ours: {dataset_title(config)} ({label})", augment, "yes" if enabled else "no"]
        for metric in keys:
            scale, digits = scale_of(metric)
            values = [v for v in (r.value(metric) for r in members) if v is not None]
            cells.append(format_stat(values, scale, digits))
        rows.append(cells)
    for augment in dict.fromkeys(augments):
        for dataset, row in paper_rows(reference, augment):
            cells = [f"paper: {DATASET_TITLES.get(dataset, dataset)}", augment]
            cells.append("yes" if row["mollify"] else "no")
            cells += [f"{paper_value(reference, metric, row[metric]):g}" for metric in keys]
            rows.append(cells)
    return markdown_lines(header, rows)


# ------------------------------------------------------------------- provenance
def provenance_table(runs: Sequence[Run], results_dir: Path, spec: SweepSpec) -> list[str]:
    """Per run: seed, command, config file, git commit, steps, wall time and device."""
    header = ["run", "seed", "command", "config", "git commit", "steps", "wall time (s)", "device"]
    rows = []
    for run in runs:
        info = run.info
        device = info.get("device") or {}
        packages = info.get("packages") or {}
        config_path = (run.folder / "config.yaml").relative_to(results_dir.parent)
        rows.append(
            [
                run.name,
                info.get("seed", "?"),
                f"`{command_of(info)}`",
                f"`{config_path}` (from `{display_path(spec.path)}`)",
                f"`{info.get('git_commit')}`",
                info.get("steps", "?"),
                f"{float(info.get('wall_time_s') or 0):.0f}",
                f"{device.get('type', '?')} {device.get('name', '')}, "
                f"torch {packages.get('torch')}",
            ]
        )
    return markdown_lines(header, rows)
