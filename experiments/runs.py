"""The finished runs of an experiment grid, their statistics and their provenance.

A run is read from ``results/<grid>/<run>/``: its numbers from ``metrics.json`` (written by
the final evaluation of ``probmoll train``) and its provenance from ``run.json``. Seeds are
summarised as mean and sample standard deviation (:func:`probmoll.train.results.mean_std`),
the way ``probmoll sweep`` summarises them. Imported by ``experiments/report.py`` and
``experiments/fig3_png_information.py`` as ``experiments.runs``, with the repository on
``sys.path``.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from probmoll.train.results import lookup, mean_std
from probmoll.train.state import read_run_status
from probmoll.utils.io import read_json

if TYPE_CHECKING:
    from probmoll.train.sweep import SweepSpec

__all__ = [
    "CIFAR10_JPEG_TITLE",
    "DATASET_TITLES",
    "KEPT_FILES",
    "MAX_COPY_BYTES",
    "REPO",
    "Run",
    "augment_label",
    "binomial_se",
    "collect_grid",
    "command_of",
    "corruption_preset",
    "dataset_title",
    "describe_setup",
    "display_path",
    "format_stat",
    "group_runs",
    "is_cifar10_jpeg",
    "load_runs",
    "read_run_file",
]

REPO = Path(__file__).resolve().parent.parent
# Files of a run folder worth keeping with the results (small, text).
KEPT_FILES = ("metrics.json", "run.json", "config.yaml", "log.csv")
MAX_COPY_BYTES = 300_000
DATASET_TITLES = {
    "fashion-mnist": "Fashion-MNIST",
    "cifar10": "CIFAR-10",
    "cifar100": "CIFAR-100",
    "tinyimagenet": "TinyImageNet",
    "imagenet": "ImageNet",
    "synthetic": "synthetic gratings",
}
CIFAR10_JPEG_TITLE = "CIFAR-10 (JPEG copy)"


# ------------------------------------------------------------------------- loading
@dataclass(frozen=True)
class Run:
    """One finished run of a grid, as stored under ``results/<grid>/<name>/``.

    Parameters
    ----------
    name : str
        The run's name in the grid (its folder name).
    labels : dict of str to str
        The run's value on each grid axis, as spelled in its folder name.
    folder : Path
        The folder holding the run's files.
    metrics : dict
        The content of ``metrics.json``.
    info : dict
        The content of ``run.json`` (status, command, config, commit, device, ...).
    """

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
        return lookup(self.metrics, key)


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


def read_run_file(path: Path) -> dict[str, Any]:
    """The JSON file ``path`` of a run folder; empty when it is missing or unreadable.

    A run whose files cannot be read is reported as not finished rather than stopping
    the report.
    """
    try:
        return read_json(path)
    except (FileNotFoundError, ValueError):
        return {}


def load_runs(spec: SweepSpec, results_dir: Path) -> list[Run]:
    """The finished runs of ``spec`` found under ``results_dir/<grid>/``, in grid order."""
    runs = []
    for point in spec.points:
        folder = results_dir / spec.path.stem / point.name
        metrics = read_run_file(folder / "metrics.json")
        info = read_run_file(folder / "run.json")
        if metrics and info.get("status") == "finished":
            runs.append(Run(point.name, dict(point.labels), folder, metrics, info))
    return runs


# ------------------------------------------------------------------------- numbers
def group_runs(runs: Iterable[Run], axes: Sequence[str]) -> dict[tuple[str, ...], list[Run]]:
    """Runs keyed by their labels on ``axes`` (every axis but the seeds), in first-seen order."""
    groups: dict[tuple[str, ...], list[Run]] = {}
    for run in runs:
        groups.setdefault(tuple(run.labels[a] for a in axes), []).append(run)
    return groups


def format_stat(values: Sequence[float], scale: float, digits: int) -> str:
    """``values`` times ``scale`` as ``"mean ± std"`` with ``digits`` decimals.

    The standard deviation is left out for a single value; no values give ``"-"``.
    """
    if not values:
        return "-"
    mean, std = mean_std([scale * v for v in values])
    text = f"{mean:.{digits}f}"
    return text if std is None else f"{text} ± {std:.{digits}f}"


def binomial_se(error: float, count: int) -> float:
    """Standard error of an error rate measured on ``count`` independent test images."""
    return math.sqrt(max(error * (1.0 - error), 0.0) / count)


# ---------------------------------------------------------------- run descriptions
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


def corruption_preset(runs: Sequence[Run]) -> str:
    """The corruption set the runs were evaluated on, for a table's heading.

    ``data.corruption_preset`` of their ``metrics.json`` when recorded; for a generated set
    without it, ``"imagenet-c (generated)"`` (the generator's constants before presets
    existed); otherwise the published set's name. Different answers are joined with
    ``" / "`` -- a table whose rows differ in this compares unlike things.
    """
    found = []
    for run in runs:
        data = run.metrics.get("data") or {}
        preset, corruptions = data.get("corruption_preset"), data.get("corruptions")
        if preset:
            found.append(f"{preset} (generated)" if corruptions == "generated" else str(preset))
        elif corruptions == "generated":
            found.append("imagenet-c (generated)")
        elif corruptions and corruptions != "none":
            found.append(str(corruptions))
    return " / ".join(dict.fromkeys(found)) or "none"
