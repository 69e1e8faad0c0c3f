"""The grids behind each result of the paper, at each scale, and running what is missing.

Three scales:

``paper``
    the paper's recipe: the ``experiments/grids/paper-*.yaml`` grids (SLURM job arrays;
    a call submits the missing runs and returns; call again once they finished);
``cpu``
    the CPU-scale study: the ``experiments/grids/cpu-*.yaml`` grids, run one after the
    other in this process;
``tiny``
    the same grids as ``cpu`` with their base config swapped for
    ``experiments/configs/tiny.yaml`` (synthetic gratings, a width-4 network, a couple of
    steps) and one seed: every step of every target in about a minute, to check the
    pipeline, never to read the numbers. Shared overrides other than the compared settings
    (``augment.*``, ``mollify.*``, ``likelihood.*``) are dropped, and runs whose resolved
    configurations are equal share one run folder (``<runs>/by-config/<digest>``), so a
    tiny Table 2 reuses the tiny Table 1 run it equals.

A :class:`Study` runs the missing points of a grid through the sweep machinery
(:func:`probmoll.train.sweep.run_sweep`: finished runs are skipped, interrupted ones
resumed), copies the small files of finished runs to ``<results>/<grid>/<run>/``
(:func:`experiments.runs.collect_grid`) and reads them back as :class:`experiments.runs.Run`.
A point already in ``<results>/<grid>/<run>/`` as a finished run of exactly the configuration
the grid now asks for (:meth:`Study.collected`) is not trained again, so a fresh clone
reproduces only what its ``results/`` lacks; changing a grid or config makes its runs stale.
"""

from __future__ import annotations

import dataclasses
import hashlib
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import yaml

from experiments.runs import (
    REPO,
    Run,
    collect_grid,
    display_path,
    load_runs,
    read_run_file,
)
from probmoll.train.config import ConfigError, config_to_dict, dump_config, load_config
from probmoll.train.state import read_run_status
from probmoll.train.sweep import SweepSpec, load_sweep, run_sweep
from probmoll.utils.io import atomic_write_text

__all__ = [
    "GRIDS_DIR",
    "SCALES",
    "STUDY_GRIDS",
    "TINY_CONFIG",
    "Study",
    "labels_match",
    "StudyError",
    "paper_dataset",
    "study_of",
    "tiny_grid",
]

SCALES = ("cpu", "paper", "tiny")
GRIDS_DIR = REPO / "experiments" / "grids"
TINY_CONFIG = REPO / "experiments" / "configs" / "tiny.yaml"
# Shared overrides a tiny grid keeps: the settings the experiments compare.
TINY_KEPT_PREFIXES = ("augment.", "mollify.", "likelihood.")
# The grids of each study, per scale (a tiny grid is derived from the cpu one).
STUDY_GRIDS: dict[str, dict[str, tuple[str, ...]]] = {
    "table1": {
        "cpu": ("cpu-table1-fmnist", "cpu-table1-cifar10-jpeg"),
        "paper": ("paper-table1-cifar10", "paper-table1-cifar100", "paper-table1-tinyimagenet"),
    },
    "table2": {
        "cpu": ("cpu-table2-fmnist",),
        "paper": ("paper-table2-cifar10", "paper-table2-cifar100", "paper-table2-tinyimagenet"),
    },
    "fig6": {
        "cpu": ("cpu-fig6-fmnist",),
        "paper": (
            "paper-fig6-ablations-cifar10",
            "paper-fig6-ablations-cifar100",
            "paper-fig6-ablations-tinyimagenet",
        ),
    },
    "imagenet": {"paper": ("paper-table3-imagenet",)},
    "objectives": {
        "cpu": ("cpu-objectives",),
        "paper": ("paper-objectives-cifar10", "paper-objectives-cifar100"),
    },
    "budget": {"cpu": ("cpu-budget-fmnist",)},
}
PAPER_DATASETS = ("cifar10", "cifar100", "tinyimagenet", "imagenet")


class StudyError(RuntimeError):
    """A grid or a step of a target that cannot run; the message says why."""


def study_of(stem: str) -> str | None:
    """The study key of a grid stem (``"table1"`` for ``cpu-table1-fmnist``), if any."""
    for key, scales in STUDY_GRIDS.items():
        if any(stem in stems for stems in scales.values()):
            return key
    return None


def paper_dataset(stem: str) -> str:
    """The dataset of the paper's tables a grid is compared with: its own for the paper
    grids, CIFAR-10 (32x32 images, 10 classes, the closest) for the CPU grids."""
    for name in PAPER_DATASETS:
        if stem.endswith(f"-{name}"):
            return name
    return "cifar10"


# ----------------------------------------------------------------------- tiny grids
def tiny_grid(stem: str, root: Path) -> Path:
    """Write the tiny version of grid ``stem`` to ``root/grids/<stem>.yaml``; returns it.

    Same axes (one seed), base ``experiments/configs/tiny.yaml``, only the shared
    overrides of ``TINY_KEPT_PREFIXES``, run folders under ``root``, and the collected
    metrics of the source grid.
    """
    source_path = GRIDS_DIR / f"{stem}.yaml"
    source = yaml.safe_load(source_path.read_text())
    overrides = {
        key: value
        for key, value in (source.get("overrides") or {}).items()
        if key.startswith(TINY_KEPT_PREFIXES)
    }
    overrides["data.cache_dir"] = str(root / "cache")
    grid = dict(source["grid"])
    if "seed" in grid:
        grid["seed"] = list(grid["seed"])[:1]
    derived = {
        "base": str(TINY_CONFIG),
        "out": str(root / "sweeps" / stem),
        "overrides": overrides,
        "grid": grid,
        "executor": {"name": "sequential"},
        "collect": source.get("collect") or {},
    }
    header = f"# Tiny version of experiments/grids/{stem}.yaml (experiments/study.py).\n"
    path = root / "grids" / f"{stem}.yaml"
    atomic_write_text(path, header + yaml.safe_dump(derived, sort_keys=False))
    return path


def _config_digest(config: Any) -> str:
    """A short digest of a resolved run configuration, its ``out`` left aside."""
    text = dump_config(replace_out(config))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def replace_out(config: Any) -> Any:
    """``config`` with ``out`` set to ``"-"`` (to compare configurations of any folder)."""
    return dataclasses.replace(config, out="-")


def labels_match(labels: Mapping[str, str], where: Mapping[str, str] | None) -> bool:
    """Whether a grid point's ``labels`` take every value of ``where`` (None: any point)."""
    return all(labels.get(axis) == value for axis, value in (where or {}).items())


# ---------------------------------------------------------------------------- study
class Study:
    """The grids of one scale: running their missing points and reading their runs.

    Parameters
    ----------
    scale : {"cpu", "paper", "tiny"}
    results_dir : Path
        Where finished runs are copied (``<results>/<grid>/<run>/``) and read from.
    runs_root : Path, optional
        Tiny scale: the folder of the derived grids, the run folders and the cache.
    seeds : int, optional
        Only the first ``seeds`` values of each grid's ``seed`` axis (tiny: always one).
    dry_run : bool
        Say what would run; run, evaluate and copy nothing.
    max_parallel : int, optional
        Run this many points at a time, each in its own process (the ``local`` executor),
        instead of the grid's executor; SLURM grids keep theirs.
    train : bool, default True
        Run the missing points; ``False`` only reads the finished ones (the outputs are
        then written from what exists, e.g. while a study runs elsewhere).
    log : file
        Where progress lines go.
    """

    def __init__(
        self,
        scale: str,
        results_dir: Path,
        *,
        runs_root: Path | None = None,
        seeds: int | None = None,
        dry_run: bool = False,
        max_parallel: int | None = None,
        train: bool = True,
        log: TextIO | None = None,
    ) -> None:
        if scale not in SCALES:
            raise StudyError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
        self.scale = scale
        self.results_dir = Path(results_dir)
        self.runs_root = Path(runs_root) if runs_root is not None else REPO / "runs" / "tiny"
        self.seeds = seeds
        self.dry_run = dry_run
        self.max_parallel = max_parallel
        self.train = train
        self.log = log or sys.stdout
        self.failed: list[str] = []
        self._specs: dict[str, SweepSpec] = {}

    def grids(self, study: str) -> tuple[str, ...]:
        """The grid stems of ``study`` at this scale (tiny: those of cpu); may be empty."""
        scale = "cpu" if self.scale == "tiny" else self.scale
        return STUDY_GRIDS[study].get(scale, ())

    def spec(self, stem: str) -> SweepSpec:
        """Grid ``stem`` at this scale, its points cut to the chosen seeds."""
        if stem in self._specs:
            return self._specs[stem]
        if self.scale == "tiny":
            spec = load_sweep(tiny_grid(stem, self.runs_root))
            shared = self.runs_root / "by-config"
            points = [
                dataclasses.replace(
                    point,
                    config=dataclasses.replace(
                        point.config, out=str(shared / _config_digest(point.config))
                    ),
                )
                for point in spec.points
            ]
            spec = dataclasses.replace(spec, points=points)
        else:
            path = GRIDS_DIR / f"{stem}.yaml"
            if not path.is_file():
                raise StudyError(f"no grid file {path}")
            spec = load_sweep(path)
        if self.seeds is not None and "seed" in spec.axes:
            kept = list(dict.fromkeys(p.labels["seed"] for p in spec.points))[: self.seeds]
            spec = dataclasses.replace(
                spec, points=[p for p in spec.points if p.labels["seed"] in kept]
            )
        self._specs[stem] = spec
        return spec

    def ensure(
        self,
        stem: str,
        where: Mapping[str, str] | None = None,
        seeds: Sequence[str] | None = None,
    ) -> list[Run]:
        """Run the unfinished points of ``stem`` (those matching ``where`` and ``seeds``),
        copy the finished ones to the results folder and return their runs."""
        spec = self.spec(stem)
        points = [
            p
            for p in spec.points
            if labels_match(p.labels, where) and (seeds is None or p.labels.get("seed") in seeds)
        ]
        chosen = dataclasses.replace(spec, points=points)
        collected = {p.name for p in points if self.collected(stem, p)}
        todo = [
            p
            for p in points
            if p.name not in collected and read_run_status(p.config.out) != "finished"
        ]
        chosen = dataclasses.replace(chosen, points=[p for p in points if p.name not in collected])
        print(
            f"{stem}: {len(points) - len(todo)} of {len(points)} run(s) finished"
            + (f" ({len(collected)} in {display_path(self.results_dir)}/)" if collected else "")
            + (f"; {self._missing_verb()} {len(todo)}" if todo else ""),
            file=self.log,
            flush=True,
        )
        if self.dry_run:
            for point in todo:
                print(f"  {point.name}\t{point.config.out}", file=self.log)
            return []
        if todo and self.train:
            wait = spec.executor["name"] != "slurm"
            if self.max_parallel and wait and self.scale != "tiny":
                executor = {**spec.executor, "name": "local", "max_parallel": self.max_parallel}
                chosen = dataclasses.replace(chosen, executor=executor)
            statuses = run_sweep(chosen, wait=wait, log=self.log)
            self.failed += [
                f"{stem}/{name}"
                for name, status in statuses.items()
                if status not in ("finished", "submitted")
            ]
        collect_grid(chosen, self.results_dir)
        names = {p.name for p in points}
        return [run for run in load_runs(spec, self.results_dir) if run.name in names]

    def collected(self, stem: str, point: Any) -> bool:
        """Whether ``<results>/<stem>/<point>/`` holds a finished run of exactly the
        configuration the grid asks for (its ``out`` aside), while its run folder is gone:
        such a run, made on another machine or before the run folders were cleaned, is not
        trained again. Where the run folder exists, its own status decides."""
        if read_run_status(point.config.out) is not None:
            return False
        folder = self.results_dir / stem / point.name
        info = read_run_file(folder / "run.json")
        if info.get("status") != "finished" or not (folder / "metrics.json").is_file():
            return False
        try:  # read back through the config schema: keys added since take their defaults
            recorded = load_config(None, {**info["config"], "out": "-"}, validate=False)
        except (ConfigError, KeyError, TypeError):
            return False
        return config_to_dict(recorded) == config_to_dict(replace_out(point.config))

    def _missing_verb(self) -> str:
        if self.dry_run:
            return "would run"
        return "running" if self.train else "left out (not trained)"

    def runs(self, stem: str) -> list[Run]:
        """Every finished run of ``stem``, after running the missing ones."""
        return self.ensure(stem)
