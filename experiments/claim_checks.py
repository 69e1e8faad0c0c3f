"""The paper's claims (``experiments.claims.STUDY_CLAIMS``) checked on the study's runs.

For every claim and every grid of the study that tests it, one row: the paper's own
number (from ``experiments/paper_reference.yaml``), ours (the paired difference
``variant - reference``, mean ± standard deviation over seeds) and the verdict of
:func:`experiments.claims.paired_verdict`. A claim whose runs do not exist yet says so.
Imported by ``experiments/report.py`` and ``experiments/targets.py``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from experiments.claims import (
    MARGINS,
    NOT_RUN,
    STUDY_CLAIMS,
    VERDICT_RULE,
    Comparison,
    StudyClaim,
    combine_verdicts,
    paired_verdict,
)
from experiments.runs import DATASET_TITLES, Run, dataset_title
from experiments.tables import markdown_lines
from probmoll.data.corruptions import CORRUPTION_CATEGORIES

__all__ = [
    "claim_rows",
    "claims_section",
    "comparison_differences",
    "metric_name",
    "paper_number",
    "table2_value",
]

SHORT_DATASETS = {"cifar10": "C10", "cifar100": "C100", "tinyimagenet": "TIN", "imagenet": "IN"}


def metric_name(metric: str) -> str:
    """A short name of a metric key: ``corr err``, ``clean NLL``, ``noise err``."""
    parts = metric.split(".")
    what = {"error": "err", "nll": "NLL", "ece": "ECE"}.get(parts[-1], parts[-1])
    if parts[0] == "clean":
        return f"clean {what}"
    if parts[:2] == ["corrupted", "by_category"]:
        return f"{parts[2]} {what}"
    return f"corr {what}"


def _unit(metric: str) -> tuple[float, str, int]:
    """``(scale, unit, decimals)`` of a difference: error and ECE in percentage points."""
    if metric.endswith(("error", "ece")):
        return 100.0, " pp", 1
    return 1.0, " nats", 3


def comparison_differences(runs: Sequence[Run], comparison: Comparison) -> list[float]:
    """``variant - reference`` of ``comparison.metric``, paired by seed, in seed order."""

    def chosen(label: str) -> dict[str, Run]:
        return {
            run.labels.get("seed", ""): run
            for run in runs
            if run.labels.get(comparison.axis) == label
            and all(run.labels.get(a) == v for a, v in comparison.context)
        }

    references, variants = chosen(comparison.reference), chosen(comparison.variant)
    out = []
    for seed, reference in references.items():
        if seed in variants:
            a, b = reference.value(comparison.metric), variants[seed].value(comparison.metric)
            if a is not None and b is not None:
                out.append(b - a)
    return out


def _format_differences(differences: Sequence[float], metric: str) -> str:
    scale, unit, digits = _unit(metric)
    if not differences:
        return "-"
    mean = scale * statistics.fmean(differences)
    text = f"{mean:+.{digits}f}"
    if len(differences) > 1:
        text += f" ± {scale * statistics.stdev(differences):.{digits}f}"
    return f"{text}{unit} (n = {len(differences)})"


# ------------------------------------------------------------ the paper's numbers
def table2_value(row: Mapping[str, Any], metric: str) -> float | None:
    """A metric of a row of the paper's Table 2 (error in %): a category's mean is the
    mean of its corruption types, as in probmoll's ``by_category``; the corrupted mean is
    that of the 15 types (the printed "mean" column also averages the clean column)."""
    if metric == "clean.error":
        return float(row[metric])
    if metric == "corrupted.mean.error":
        return statistics.fmean(float(v) for v in row["by_corruption"].values())
    parts = metric.split(".")
    if parts[:2] == ["corrupted", "by_category"] and parts[-1] == "error":
        names = CORRUPTION_CATEGORIES[parts[2]]
        return statistics.fmean(float(row["by_corruption"][n]) for n in names)
    return None


def _table5_number(reference: Mapping[str, Any], augment: str, metric: str) -> str:
    units = reference.get("units") or {}
    parts = []
    for dataset, rows in (reference.get("table5") or {}).items():
        by_setting = {row["mollify"]: row for row in rows if row["augment"] == augment}
        off, on = by_setting.get(False), by_setting.get(True)
        if off is None or on is None or metric not in off["mean"]:
            continue
        scale = 100.0 if units.get(metric.rsplit(".", 1)[-1]) == "fraction" else 1.0
        difference = scale * (on["mean"][metric] - off["mean"][metric])
        spread = scale * math.hypot(on["std"][metric], off["std"][metric])
        digits = 2 if metric.endswith("nll") else 1
        parts.append(f"{SHORT_DATASETS[dataset]} {difference:+.{digits}f} ± {spread:.{digits}f}")
    return "; ".join(parts)


def _table2_number(reference: Mapping[str, Any], ref: str, variant: str, metric: str) -> str:
    parts = []
    for dataset, rows in (reference.get("table2") or {}).items():
        by_label = {row["mollification"]: row for row in rows}
        if ref not in by_label or variant not in by_label:
            continue
        a, b = table2_value(by_label[ref], metric), table2_value(by_label[variant], metric)
        if a is not None and b is not None:
            parts.append(f"{SHORT_DATASETS[dataset]} {b - a:+.1f}")
    return "; ".join(parts)


def paper_number(claim: StudyClaim, reference: Mapping[str, Any]) -> str:
    """The paper's own number(s) for ``claim``, with where they come from."""
    source = claim.paper[0] if claim.paper else ""
    if source == "text":
        quote = ((reference.get("figures") or {}).get(claim.paper[1]) or {}).get("quote", "")
        return f'"{quote}" (no numbers printed)'
    parts = []
    for comparison in claim.comparisons:
        name = metric_name(comparison.metric)
        if source == "table5":
            text = _table5_number(reference, claim.paper[1], comparison.metric)
            note = "Table 5, on - off; ± combines its two std"
        elif source == "table2":
            ref, variant = (
                claim.paper[1:3]
                if len(claim.paper) >= 3
                else (comparison.reference, comparison.variant)
            )
            text = _table2_number(reference, ref, variant, comparison.metric)
            note = f"Table 2, {variant} - {ref}"
        else:
            text, note = "", ""
        if text:
            unit = _unit(comparison.metric)[1].strip()
            parts.append(f"{name}: {text} {unit} ({note})")
    return "; ".join(parts) or "-"


# -------------------------------------------------------------------------- rows
def claim_rows(
    runs_by_grid: Mapping[str, Sequence[Run]],
    grids: Mapping[str, Sequence[str]],
    reference: Mapping[str, Any],
    claims: Sequence[StudyClaim] = STUDY_CLAIMS,
) -> list[list[str]]:
    """One row per claim and grid of its study: claim, where, grid, comparison, paper,
    ours, verdict.

    Parameters
    ----------
    runs_by_grid : mapping of str to sequence of Run
        The finished runs of each grid (file stem); a grid missing here has none.
    grids : mapping of str to sequence of str
        The grid stems of each study key (``experiments.study.STUDY_GRIDS`` at one scale).
    reference : mapping
        ``experiments/paper_reference.yaml``.
    claims : sequence of StudyClaim
        The claims to check (default: all of them).
    """
    rows = []
    for claim in claims:
        stems = grids.get(claim.comparisons[0].study) or ()
        for stem in stems or ("(no grid at this scale)",):
            runs = list(runs_by_grid.get(stem) or ())
            verdicts, ours, compared = [], [], []
            for comparison in claim.comparisons:
                differences = comparison_differences(runs, comparison)
                margin = MARGINS[comparison.metric.rsplit(".", 1)[-1]]
                verdicts.append(
                    paired_verdict(differences, claim.expect, margin=margin, bound=claim.bound)
                )
                pair = f"{comparison.axis}: `{comparison.variant}` - `{comparison.reference}`"
                pair += "".join(f", {a}={v}" for a, v in comparison.context)
                compared.append(pair)
                ours.append(
                    f"{metric_name(comparison.metric)} "
                    f"{_format_differences(differences, comparison.metric)}"
                )
            verdict = combine_verdicts(verdicts)
            title = dataset_title(runs[0].info.get("config", {})) if runs else "-"
            rows.append(
                [
                    claim.claim,
                    claim.where,
                    f"`{stem}` ({title})",
                    "; ".join(dict.fromkeys(compared)),
                    paper_number(claim, reference),
                    "; ".join(ours) if verdict != NOT_RUN else NOT_RUN,
                    f"**{verdict}**",
                ]
            )
    return rows


def claims_section(
    runs_by_grid: Mapping[str, Sequence[Run]],
    grids: Mapping[str, Sequence[str]],
    reference: Mapping[str, Any],
    claims: Sequence[StudyClaim] = STUDY_CLAIMS,
    *,
    heading: str = "##",
) -> list[str]:
    """The claims as a Markdown section: the verdict rule, then :func:`claim_rows`."""
    rows = claim_rows(runs_by_grid, grids, reference, claims)
    if not rows:
        return []
    datasets = ", ".join(
        f"{short} = {DATASET_TITLES[name]}" for name, short in SHORT_DATASETS.items()
    )
    return [
        f"{heading} The paper's claims, tested",
        "",
        f"Verdict rule. {VERDICT_RULE}",
        "",
        "Our differences: mean ± sample standard deviation over seeds (n seeds); error and "
        f"ECE in percentage points. The paper's datasets: {datasets}. Different data, "
        "model size and training budget: compare directions, not sizes.",
        "",
        *markdown_lines(["claim", "where", "grid", "comparison", "paper", "ours", "verdict"], rows),
        "",
    ]
