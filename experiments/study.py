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

The CPU Table 2 grid has no run without mollification: its baseline is the FCR+TrivAug
runs of the CPU Table 1 grid, which were evaluated on the whole test set while the role
runs are evaluated on a fixed subset (``eval.subset``, the first images of the test set).
:meth:`Study.baseline_runs` therefore re-evaluates those checkpoints with ``probmoll
evaluate --subset N`` (same corruption set, preset and severities as the runs' own
evaluation) into ``RUN/evaluations/<grid>-baseline/``, so that every row of the table is
measured on the same images (:data:`BASELINES`).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import yaml

from experiments.runs import (
    KEPT_FILES,
    REPO,
    Run,
    collect_grid,
    load_runs,
    read_run_file,
)
from probmoll.train.config import dump_config
from probmoll.train.state import read_run_status
from probmoll.train.sweep import SweepSpec, load_sweep, run_sweep
from probmoll.utils.io import atomic_write_json, atomic_write_text

__all__ = [
    "BASELINES",
    "GRIDS_DIR",
    "SCALES",
    "STUDY_GRIDS",
    "TINY_CONFIG",
    "Baseline",
    "Study",
    "StudyError",
    "load_baseline_runs",
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


@dataclass(frozen=True)
class Baseline:
    """Runs of another grid that serve as one setting of a grid, re-evaluated like it.

    Parameters
    ----------
    grid : str
        The grid holding the runs (its file stem).
    labels : mapping of str to str
        Their labels on that grid (seeds excepted: those of the target grid are taken).
    axis, label : str
        The axis of the target grid and the label the runs take on it.
    """

    grid: str
    labels: Mapping[str, str]
    axis: str
    label: str


BASELINES = {
    "cpu-table2-fmnist": Baseline(
        grid="cpu-table1-fmnist",
        labels={"augment": "fcr+trivaug", "mollify.enabled": "false"},
        axis="mollification",
        label="none",
    ),
}


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
    text = dump_config(dataclasses.replace(config, out="-"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _matches(labels: Mapping[str, str], where: Mapping[str, str] | None) -> bool:
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
            if _matches(p.labels, where) and (seeds is None or p.labels.get("seed") in seeds)
        ]
        chosen = dataclasses.replace(spec, points=points)
        todo = [p for p in points if read_run_status(p.config.out) != "finished"]
        print(
            f"{stem}: {len(points) - len(todo)} of {len(points)} run(s) finished"
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

    def _missing_verb(self) -> str:
        if self.dry_run:
            return "would run"
        return "running" if self.train else "left out (not trained)"

    def runs(self, stem: str) -> list[Run]:
        """Every finished run of ``stem`` (after running the missing ones), with the
        re-evaluated baseline of :data:`BASELINES` when the grid has one."""
        runs = self.ensure(stem)
        if stem in BASELINES:
            runs = self.baseline_runs(stem) + runs
        return runs

    # ---------------------------------------------------------------- baselines
    def baseline_runs(self, stem: str) -> list[Run]:
        """The baseline runs of grid ``stem`` evaluated on its images (see the module)."""
        baseline = BASELINES[stem]
        target = self.spec(stem)
        seeds = list(dict.fromkeys(p.labels.get("seed") for p in target.points))
        self.ensure(baseline.grid, baseline.labels, seeds)
        if self.dry_run:
            print(f"  then re-evaluate them as {stem} evaluates", file=self.log)
            return []
        evaluation = target.points[0].config.eval
        found = []
        for point in self.spec(baseline.grid).points:
            if not _matches(point.labels, baseline.labels) or point.labels.get("seed") not in seeds:
                continue
            if read_run_status(point.config.out) != "finished":
                continue
            folder = Path(point.config.out) / "evaluations" / f"{stem}-baseline"
            if not (folder / "metrics.json").is_file():
                self._evaluate(point.config, evaluation, folder)
            target_dir = self.results_dir / stem / "baseline" / point.name
            target_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(folder / "metrics.json", target_dir / "metrics.json")
            for name in KEPT_FILES:
                if name != "metrics.json" and (Path(point.config.out) / name).is_file():
                    shutil.copyfile(Path(point.config.out) / name, target_dir / name)
            labels = {baseline.axis: baseline.label, "seed": point.labels.get("seed", "")}
            atomic_write_json(
                target_dir / "baseline.json",
                {"labels": labels, "grid": baseline.grid, "run": point.name},
            )
            found.append(point.name)
        return [r for r in load_baseline_runs(stem, self.results_dir) if r.name in found]

    def _evaluate(self, config: Any, evaluation: Any, folder: Path) -> None:
        """``probmoll evaluate`` of the run of ``config`` as ``evaluation`` evaluates."""
        from probmoll.evaluate import add_arguments
        from probmoll.evaluate import run as evaluate

        argv = ["--checkpoint", str(config.out), "--corruptions", evaluation.corruptions]
        argv += ["--out", str(folder), "--no-plots", "--no-progress"]
        argv += ["--severities", *(str(s) for s in evaluation.severities)]
        argv += ["--batch-size", str(evaluation.batch_size)]
        options = {
            "--subset": evaluation.subset,
            "--cache-dir": config.data.cache_dir,
            "--data-root": config.data.root,
            "--corruptions-root": evaluation.root,
            "--preset": getattr(evaluation, "corruption_preset", None),
            "--device": None if config.device == "auto" else config.device,
        }
        argv += [word for option, value in options.items() if value for word in (option, value)]
        if evaluation.include_heldout:
            argv.append("--include-heldout")
        if folder.exists():
            argv.append("--overwrite")  # an evaluation interrupted before its metrics.json
        parser = argparse.ArgumentParser(prog="probmoll evaluate")
        add_arguments(parser)
        words = [str(word) for word in argv]
        try:
            args = parser.parse_args(words)
        except SystemExit:
            raise StudyError(f"probmoll evaluate refuses {' '.join(words)}") from None
        print(f"probmoll evaluate {' '.join(words)}", file=self.log, flush=True)
        if evaluate(args) != 0:
            self.failed.append(f"evaluation {folder}")
            raise StudyError(f"probmoll evaluate failed for {config.out}")


def load_baseline_runs(stem: str, results_dir: Path) -> list[Run]:
    """The re-evaluated baseline runs copied to ``<results>/<stem>/baseline/<run>/``."""
    runs = []
    for folder in sorted((Path(results_dir) / stem / "baseline").glob("*/")):
        metrics = read_run_file(folder / "metrics.json")
        info = read_run_file(folder / "run.json")
        about = read_run_file(folder / "baseline.json")
        if metrics and info.get("status") == "finished" and about.get("labels"):
            runs.append(Run(folder.name, dict(about["labels"]), folder, metrics, info))
    return runs
