"""Tables, comparisons and figures of probmoll's experiments, read from their run folders.

Every number in the report comes from a run's ``metrics.json`` (written by the final
evaluation of ``probmoll train``) and every provenance field from its ``run.json``;
nothing is typed in by hand. The paper's own figures, shown beside ours for comparison,
come from ``experiments/paper_reference.yaml`` (a transcription of its Tables 1 and 3).

Two steps::

    python experiments/report.py --collect     # copy small run files into results/
    python experiments/report.py               # rebuild results/REPORT.md from results/

``--collect`` copies, for every finished run of each grid, ``metrics.json``, ``run.json``,
``config.yaml`` and ``log.csv`` (no checkpoints; nothing over 300 KB) from the grid's sweep
folder (``runs/<grid>/<run>/``) to ``results/<grid>/<run>/``. The report is then built
from ``results/`` alone, so it can be regenerated from the repository. ``--grid`` selects
other grid files (e.g. the paper-scale ``experiments/grids/paper-*.yaml`` once they ran);
the default is the CPU-sized grids run on this machine.

For each grid the report holds: what ran (finished runs out of the grid's points), a
summary table in the units of the paper's Table 1 (error in %, NLL in nats, ECE as a
fraction; mean and sample standard deviation over seeds), errors per corruption category
and type (Table 2), metrics per severity (Figs. 9-10), paired differences against a
reference setting with the fraction of seeds that agree in sign, the paper's claims
checked against those differences, the paper's numbers for the same augmentation, a
scatter of clean against corrupted metrics (Fig. 5) and severity curves (PNG), and the
provenance of every run (command, config, git commit, seed, steps, wall time, device).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script from anywhere: import probmoll from the checkout
    sys.path.insert(0, str(REPO))

from probmoll.evaluate import _grouped_corruptions, _table  # noqa: E402
from probmoll.train.state import read_run_status  # noqa: E402
from probmoll.train.sweep import SweepSpec, _lookup, _mean_std, load_sweep  # noqa: E402

DEFAULT_GRIDS = (
    "experiments/grids/cpu-fmnist-main.yaml",
    "experiments/grids/cpu-objectives.yaml",
    "experiments/grids/cpu-cifar10-jpeg.yaml",
)
# Files of a run folder worth keeping with the results (small, text).
KEPT_FILES = ("metrics.json", "run.json", "config.yaml", "log.csv")
MAX_COPY_BYTES = 300_000
PAPER_REFERENCE = REPO / "experiments" / "paper_reference.yaml"

# (metrics.json key, column title, scale, decimals): the units of the paper's Table 1.
SUMMARY_COLUMNS = (
    ("clean.error", "clean err %", 100.0, 1),
    ("corrupted.mean.error", "corr err %", 100.0, 1),
    ("gap.error", "gap %", 100.0, 1),
    ("clean.nll", "clean NLL", 1.0, 3),
    ("corrupted.mean.nll", "corr NLL", 1.0, 3),
    ("clean.ece", "clean ECE", 1.0, 3),
    ("corrupted.mean.ece", "corr ECE", 1.0, 3),
)
# For each grid axis, the setting the others are compared against (paired by seed).
REFERENCE_LABELS = {
    "mollify.enabled": "false",
    "mollification": "none",
    "objective": "ce-nomoll",
    "ablation": "default",
}
# Further contrasts within an axis: (reference, variant, what the difference measures).
EXTRA_CONTRASTS = {
    "objective": (
        ("ce-nomoll", "smooth-jensen-k1", "data mollification with the paper's default objective"),
        ("ce-moll", "smooth-jensen-k1", "label smoothing coupled to mollified inputs"),
        ("smooth-jensen-k1", "temper-jensen-k1", "tempered instead of smoothed labels (Eq. 7)"),
        ("smooth-jensen-k1", "normalized-jensen-k1", "Appendix C normalizer"),
        ("smooth-jensen-k1", "smooth-jensen-k4", "K = 4 copies per image at equal compute"),
        ("smooth-jensen-k4", "smooth-lme-k4", "log-mean-exp instead of Jensen (Eq. 19 vs 22)"),
        ("smooth-lme-k4", "smooth-dk-k4", "Durbin-Koopman bias correction (Appendix D)"),
        ("smooth-jensen-k4", "smooth-geom-k4-T1", "geometric T = 1 (equal to Jensen)"),
        ("smooth-jensen-k4", "smooth-geom-k4-T0.5", "geometric, cold T = 0.5"),
    ),
}
# Contrasts that switch data mollification on (reference -> variant), given as
# (axis, reference, variant) with None for any label: they get the per-corruption table
# of differences (Table 4) and the check of the paper's claims.
MOLLIFICATION_CONTRASTS = (
    ("mollify.enabled", "false", "true"),
    ("mollification", "none", None),
    ("objective", "ce-nomoll", "smooth-jensen-k1"),
)
DATASET_TITLES = {
    "fashion-mnist": "Fashion-MNIST",
    "cifar10": "CIFAR-10",
    "cifar100": "CIFAR-100",
    "tinyimagenet": "TinyImageNet",
    "imagenet": "ImageNet",
    "synthetic": "synthetic gratings",
}
# The paper's claims about adding mollification, checked on every mollification on/off
# pair: (difference key, expected sign of on - off, claim, where the paper says it).
MOLLIFICATION_CLAIMS = (
    ("corrupted.mean.error", -1, "corrupted error decreases", "Sec. 4.1, Table 1"),
    ("gap.error", -1, "the clean-corrupted error gap narrows", "Sec. 4.1, Fig. 5"),
    ("corrupted.mean.nll", -1, "corrupted NLL decreases", "Sec. 4.1, Fig. 5(b)"),
    ("corrupted.mean.ece", -1, "corrupted ECE decreases (by 20-40%)", "Sec. 4.1"),
    ("clean.error", +1, "clean error rises (slightly, on CIFAR)", "Sec. 4.1, Table 1"),
)


# The paper's statements about its alternative objectives (Sec. 5, Appendices C and D:
# they "did not lead to improvements"), checked on the objective grids:
# (reference, variant, metric, expected sign of variant - reference, claim, where).
OBJECTIVE_CLAIMS = (
    (
        "smooth-jensen-k1",
        "normalized-jensen-k1",
        "corrupted.mean.error",
        +1,
        "the normalized likelihood does not lower corrupted error",
        "Sec. 5, Appendix C",
    ),
    (
        "smooth-jensen-k1",
        "normalized-jensen-k1",
        "clean.error",
        +1,
        "the normalized likelihood does not lower clean error",
        "Sec. 5, Appendix C",
    ),
    (
        "smooth-lme-k4",
        "smooth-dk-k4",
        "corrupted.mean.error",
        +1,
        "the bias correction does not lower corrupted error",
        "Sec. 5, Appendix D",
    ),
    (
        "smooth-lme-k4",
        "smooth-dk-k4",
        "clean.error",
        +1,
        "the bias correction does not lower clean error",
        "Sec. 5, Appendix D",
    ),
)


# ------------------------------------------------------------------------- loading
@dataclass(frozen=True)
class Run:
    """One finished run of a grid, as stored under ``results/<grid>/<name>/``."""

    name: str
    labels: dict[str, str]
    folder: Path
    metrics: dict[str, Any]
    info: dict[str, Any]

    def value(self, key: str) -> float | None:
        """A metric by dotted key; ``gap.<metric>`` is corrupted minus clean."""
        if key.startswith("gap."):
            metric = key.split(".", 1)[1]
            clean, corrupted = self.value(f"clean.{metric}"), self.value(f"corrupted.mean.{metric}")
            return None if clean is None or corrupted is None else corrupted - clean
        return _lookup(self.metrics, key)


def collect_grid(spec: SweepSpec, results_dir: Path) -> list[str]:
    """Copy the small files of every finished run of ``spec`` to ``results_dir/<grid>/``.

    Returns the names of the runs copied. Files over ``MAX_COPY_BYTES`` are skipped.
    """
    copied = []
    for point in spec.points:
        source = Path(point.config.out)
        if read_run_status(source) != "finished" or not (source / "metrics.json").is_file():
            continue
        target = results_dir / spec.path.stem / point.name
        target.mkdir(parents=True, exist_ok=True)
        for name in KEPT_FILES:
            path = source / name
            if path.is_file() and path.stat().st_size <= MAX_COPY_BYTES:
                shutil.copyfile(path, target / name)
        copied.append(point.name)
    return copied


def load_runs(spec: SweepSpec, results_dir: Path) -> list[Run]:
    """The finished runs of ``spec`` found under ``results_dir/<grid>/``, in grid order."""
    runs = []
    for point in spec.points:
        folder = results_dir / spec.path.stem / point.name
        metrics = _read_json(folder / "metrics.json")
        info = _read_json(folder / "run.json")
        if metrics and info.get("status") == "finished":
            runs.append(Run(point.name, dict(point.labels), folder, metrics, info))
    return runs


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


# ------------------------------------------------------------------------- numbers
def group_runs(runs: Iterable[Run], axes: Sequence[str]) -> dict[tuple[str, ...], list[Run]]:
    """Runs keyed by their labels on ``axes`` (every axis but the seeds), in first-seen order."""
    groups: dict[tuple[str, ...], list[Run]] = {}
    for run in runs:
        groups.setdefault(tuple(run.labels[a] for a in axes), []).append(run)
    return groups


def mean_std(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (``ddof = 1``; None for a single value)."""
    mean, std = _mean_std(list(values))
    return mean, (std if len(values) > 1 else None)


def format_stat(values: Sequence[float], scale: float, digits: int) -> str:
    if not values:
        return "-"
    mean, std = mean_std([scale * v for v in values])
    text = f"{mean:.{digits}f}"
    return text if std is None else f"{text} ± {std:.{digits}f}"


def binomial_se(error: float, count: int) -> float:
    """Standard error of an error rate measured on ``count`` independent test images."""
    return math.sqrt(max(error * (1.0 - error), 0.0) / count)


@dataclass(frozen=True)
class Contrast:
    """Paired differences ``variant - reference`` over the seeds both of them finished."""

    axis: str
    reference: str
    variant: str
    context: tuple[tuple[str, str], ...]  # the other axes' labels (seeds excluded)
    pairs: tuple[tuple[Run, Run], ...]  # (reference run, variant run), one per seed
    meaning: str = ""

    def differences(self, key: str) -> list[float]:
        out = []
        for reference, variant in self.pairs:
            a, b = reference.value(key), variant.value(key)
            if a is not None and b is not None:
                out.append(b - a)
        return out


def contrasts(spec: SweepSpec, runs: Sequence[Run]) -> list[Contrast]:
    """Every setting against the reference of its axis, plus the extra contrasts."""
    over = spec.over
    found = []
    for axis in spec.axes:
        if axis == over:
            continue
        labels = list(dict.fromkeys(run.labels[axis] for run in runs))
        wanted: dict[tuple[str, str], str] = {}  # (reference, variant) -> meaning
        reference = REFERENCE_LABELS.get(axis)
        if reference in labels:
            wanted.update({(reference, label): "" for label in labels if label != reference})
        for ref, variant, meaning in EXTRA_CONTRASTS.get(axis, ()):
            if ref in labels and variant in labels:
                wanted[(ref, variant)] = meaning
        others = [a for a in spec.axes if a not in (axis, over)]
        for context in dict.fromkeys(tuple(run.labels[a] for a in others) for run in runs):
            for (ref, variant), meaning in wanted.items():
                pairs = _pair_by_seed(
                    runs, axis, ref, variant, dict(zip(others, context, strict=True)), over
                )
                if pairs:
                    found.append(
                        Contrast(
                            axis,
                            ref,
                            variant,
                            tuple(zip(others, context, strict=True)),
                            pairs,
                            meaning,
                        )
                    )
    return found


def _pair_by_seed(
    runs: Sequence[Run],
    axis: str,
    reference: str,
    variant: str,
    context: Mapping[str, str],
    over: str | None,
) -> tuple[tuple[Run, Run], ...]:
    def matching(label: str) -> dict[str, Run]:
        chosen = [
            r
            for r in runs
            if r.labels[axis] == label and all(r.labels[a] == v for a, v in context.items())
        ]
        return {(r.labels[over] if over else ""): r for r in chosen}

    a, b = matching(reference), matching(variant)
    return tuple((a[seed], b[seed]) for seed in a if seed in b)


def switches_mollification_on(contrast: Contrast) -> bool:
    """Whether the contrast is data mollification off (reference) against on (variant)."""
    return any(
        contrast.axis == axis
        and contrast.reference == reference
        and variant in (None, contrast.variant)
        for axis, reference, variant in MOLLIFICATION_CONTRASTS
    )


def claim_verdict(differences: Sequence[float], expected_sign: int) -> str:
    """Whether paired differences go the way a claim says, seed by seed."""
    if not differences:
        return "no data"
    agree = sum(1 for d in differences if d * expected_sign > 0)
    n = len(differences)
    if agree == n:
        return f"yes ({agree}/{n} seeds)"
    if agree == 0:
        return f"no ({n}/{n} seeds go the other way)" if n > 1 else "no"
    return f"mixed ({agree}/{n} seeds)"


# ---------------------------------------------------------------- run descriptions
CIFAR10_JPEG_TITLE = "CIFAR-10 (JPEG copy)"


def is_cifar10_jpeg(name: str, root: str | None) -> bool:
    """Whether dataset ``name`` read from ``root`` is the JPEG copy of CIFAR-10 (a folder
    dataset whose path names ``cifar10-jpeg``): results on it are not results on CIFAR-10.
    Also used by experiments/fig3_png_information.py."""
    return name == "folder" and "cifar10-jpeg" in str(root or "")


def dataset_title(config: Mapping[str, Any]) -> str:
    """A human name of the run's dataset; the JPEG copy of CIFAR-10 is labelled as such."""
    data = config.get("data", {})
    name = data.get("name", "?")
    if is_cifar10_jpeg(name, data.get("root")):
        return CIFAR10_JPEG_TITLE
    if name == "folder":
        return f"image folder {Path(str(data.get('root') or '')).name}"
    return DATASET_TITLES.get(name, name)


def augment_label(config: Mapping[str, Any]) -> str:
    """The augmentation in the naming of the paper's tables (``fcr+trivaug``, ``fcr+mixup``)."""
    augment = config.get("augment", {})
    policy, mix = augment.get("policy", "fcr"), augment.get("mix", "none")
    return policy if mix in (None, "none") else f"{policy}+{mix}"


def display_path(path: Path) -> Path:
    """``path`` relative to the repository when it lies inside it."""
    path = Path(path).resolve()
    return path.relative_to(REPO) if path.is_relative_to(REPO) else path


def command_of(info: Mapping[str, Any]) -> str:
    """The ``probmoll`` command line recorded in run.json (argv without the program path)."""
    argv = info.get("command") or []
    return "probmoll " + " ".join(str(a) for a in argv[1:]) if argv else "?"


def describe_setup(runs: Sequence[Run]) -> list[str]:
    """What the runs trained and evaluated on, read from their resolved configs."""
    config = runs[0].info.get("config", {})
    data, model, evaluation = (
        config.get("data", {}),
        config.get("model", {}),
        config.get("eval", {}),
    )
    steps = sorted({int(r.info.get("steps", 0)) for r in runs})
    metrics = runs[0].metrics
    corruptions = metrics.get("corrupted", {}).get("corruptions") or []
    severities = metrics.get("corrupted", {}).get("severities") or []
    lines = [
        f"- dataset: {dataset_title(config)}"
        + (f", a fixed subset of {data['subset']:,} training images" if data.get("subset") else ""),
        f"- model: `{model.get('name')}`; batch {config.get('batch_size')} rows/step, "
        f"SGD lr {config.get('optim', {}).get('lr')} ({config.get('schedule', {}).get('name')}), "
        f"{config.get('precision')}, epochs {config.get('epochs')}"
        + (f", max_steps {config['max_steps']}" if config.get("max_steps") else "")
        + f"; optimiser steps taken: {', '.join(map(str, steps))}",
        f"- evaluation: {metrics.get('clean', {}).get('count', '?')} clean test images; "
        f"corruptions `{evaluation.get('corruptions')}`: {len(corruptions)} types x "
        f"severities {severities} on the same images",
    ]
    if corruptions:
        lines.append(f"- corruption types: {', '.join(corruptions)}")
    return lines


# ------------------------------------------------------------------------ markdown
def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    """probmoll.evaluate's markdown table, as lines, with every cell turned into text."""
    return _table(header, [[str(cell) for cell in row] for row in rows]).split("\n")


def summary_table(groups: Mapping[tuple[str, ...], list[Run]], axes: Sequence[str]) -> list[str]:
    header = [*axes, "n", *(title for _, title, _, _ in SUMMARY_COLUMNS), "clean err s.e. %"]
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
    return markdown_table(header, rows)


def corruption_table(groups: Mapping[tuple[str, ...], list[Run]], axes: Sequence[str]) -> list[str]:
    """Error (%) per category and per corruption type, mean over severities, with the
    categories and the types in the column order of the paper's Table 2 (``TABLE2_ORDER``,
    as probmoll.evaluate orders them)."""
    first = next(iter(groups.values()))[0].metrics.get("corrupted", {})
    ordered = _grouped_corruptions({"": {"corrupted": {"categories": first.get("categories")}}})
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
    return markdown_table(header, rows)


def severity_table(
    groups: Mapping[tuple[str, ...], list[Run]], axes: Sequence[str], metric: str
) -> list[str]:
    """One metric per severity (0 = clean), mean over corruption types (Figs. 9-10)."""
    severities = next(iter(groups.values()))[0].metrics.get("corrupted", {}).get("severities")
    if not severities:
        return []
    scale, digits = (100.0, 1) if metric == "error" else (1.0, 3)
    header = [*axes, "0 (clean)", *(str(s) for s in severities)]
    rows = []
    for key, members in groups.items():
        cells = [*key, format_stat([r.value(f"clean.{metric}") for r in members], scale, digits)]
        for s in severities:
            values = [r.value(f"corrupted.by_severity.{s}.{metric}") for r in members]
            cells.append(format_stat([v for v in values if v is not None], scale, digits))
        rows.append(cells)
    return markdown_table(header, rows)


def contrast_table(found: Sequence[Contrast]) -> list[str]:
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
    return markdown_table(header, rows)


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
    return markdown_table(header, rows)


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
            scale, digits = (100.0, 1) if "error" in metric else (1.0, 3)
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
    return markdown_table(header, rows)


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
                    format_stat(diffs, 100.0, 1),
                    claim_verdict(diffs, sign),
                ]
            )
    return markdown_table(header, rows) if rows else []


def relative_change(contrast: Contrast, key: str) -> str:
    """Mean over seeds of (variant - reference) / reference, in percent."""
    ratios = []
    for reference, variant in contrast.pairs:
        a, b = reference.value(key), variant.value(key)
        if a is not None and b is not None and a != 0:
            ratios.append((b - a) / abs(a))
    return f"{100 * statistics.fmean(ratios):+.0f}%" if ratios else "-"


def paper_rows(reference: Mapping[str, Any], augment: str) -> list[tuple[str, Mapping]]:
    """``(dataset, row)`` of the paper's Tables 1/3 for one augmentation, both settings."""
    out = []
    for table in ("table1", "table3"):
        for dataset, rows in (reference.get(table) or {}).items():
            out += [(dataset, row) for row in rows if row["augment"] == augment]
    return out


def paper_fcr_delta(reference: Mapping[str, Any], metric: str) -> str:
    """The paper's on - off difference of a metric for FCR, per dataset of Table 1."""
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
        digits = 1 if "error" in metric else 2
        parts.append(f"{DATASET_TITLES.get(dataset, dataset)} {value:+.{digits}f}")
    return "; ".join(parts) or "-"


def paper_comparison_table(
    groups: Mapping[tuple[str, ...], list[Run]], axes: Sequence[str], reference: Mapping[str, Any]
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
            scale, digits = (100.0, 1) if metric.endswith("error") else (1.0, 3)
            values = [v for v in (r.value(metric) for r in members) if v is not None]
            cells.append(format_stat(values, scale, digits))
        rows.append(cells)
    for augment in dict.fromkeys(augments):
        for dataset, row in paper_rows(reference, augment):
            cells = [f"paper: {DATASET_TITLES.get(dataset, dataset)}", augment]
            cells.append("yes" if row["mollify"] else "no")
            cells += [f"{row[metric]}" for metric in keys]
            rows.append(cells)
    return markdown_table(header, rows)


def provenance_table(runs: Sequence[Run], results_dir: Path, spec: SweepSpec) -> list[str]:
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
    return markdown_table(header, rows)


# ------------------------------------------------------------------------- figures
def scatter_figure(groups: Mapping[tuple[str, ...], list[Run]], axes: Sequence[str], path: Path):
    """Clean against corrupted error, NLL and ECE, one marker per setting (Fig. 5)."""
    from matplotlib.figure import Figure

    from probmoll.plots import save_figure

    figure = Figure(figsize=(11, 3.4))
    panels = (("error", "error (%)", 100.0), ("nll", "NLL", 1.0), ("ece", "ECE", 1.0))
    for index, (metric, title, scale) in enumerate(panels):
        axis = figure.add_subplot(1, 3, index + 1)
        for key, members in groups.items():
            clean = [r.value(f"clean.{metric}") for r in members]
            corrupted = [r.value(f"corrupted.mean.{metric}") for r in members]
            if None in clean or None in corrupted:
                continue
            x, y = scale * statistics.fmean(clean), scale * statistics.fmean(corrupted)
            axis.scatter([x], [y], s=28)
            axis.annotate(
                "/".join(key), (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points"
            )
        low, high = axis.get_xlim()
        axis.plot([low, high], [low, high], color="grey", linewidth=0.6, linestyle=":")
        axis.set_xlabel(f"clean {title}")
        axis.set_ylabel(f"corrupted {title}")
    figure.subplots_adjust(wspace=0.35)
    figure.suptitle("clean vs corrupted (dotted: equal); label = " + " / ".join(axes), fontsize=9)
    save_figure(figure, path, dpi=100)
    return path


def severity_figure(groups: Mapping[tuple[str, ...], list[Run]], path: Path):
    """Error, NLL and ECE against severity, the seed-0 (first) run of each setting."""
    from probmoll.plots import plot_severity_curves, save_figure

    figure = plot_severity_curves(
        {"/".join(key): members[0].metrics for key, members in groups.items()}
    )
    save_figure(figure, path, dpi=90)
    return path


# -------------------------------------------------------------------------- report
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
        "Mean ± sample standard deviation over seeds (n = seeds). Error in %, NLL in nats, "
        "ECE as a fraction (the paper's units); gap = corrupted - clean error; the last "
        "column is the binomial standard error of the clean error on this many test images "
        "(evaluation noise alone, without seed-to-seed training noise).",
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
            "the seeds (negative = lower error/NLL/ECE for the variant).",
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
            "FCR, preact-ResNet-50, 300 epochs) from `experiments/paper_reference.yaml`.",
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
    for metric, title in (("error", "Error (%)"), ("nll", "NLL"), ("ece", "ECE")):
        table = severity_table(groups, axes, metric)
        if table:
            lines += [f"### {title} per severity (0 = clean; Figs. 9-10)", "", *table, ""]
    comparison = paper_comparison_table(groups, axes, reference)
    lines += [
        "### Beside the paper's numbers",
        "",
        "Different data, model size and training budget: compare directions and gaps, not levels.",
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
        "(Eq. 13, read as in NOTES.md erratum 1). Least-squares line over the grid of t:",
        "",
    ]
    rows = []
    for path in files:
        curve = json.loads(path.read_text())
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
    lines += markdown_table([*header, "command", "figure"], rows)
    return [*lines, ""]


def build_report(grids: Sequence[Path], results_dir: Path) -> str:
    reference = yaml.safe_load(PAPER_REFERENCE.read_text())
    lines = [
        "# probmoll experiment results",
        "",
        "Generated by `python experiments/report.py` from the run files under `results/` "
        "(copied from the run folders by `--collect`); do not edit by hand. What each grid "
        "reproduces, and what was not run, is in `experiments/README.md`.",
        "",
    ]
    for grid in grids:
        spec = load_sweep(grid)
        lines += grid_section(spec, results_dir, reference)
    lines += fig3_section(results_dir)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: Sequence[str] | None = None) -> int:
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
    from probmoll.utils.io import atomic_write_text

    atomic_write_text(out, build_report(grids, results_dir))
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
