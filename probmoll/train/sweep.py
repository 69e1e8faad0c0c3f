"""``probmoll sweep GRID.yaml``: a grid of training runs, run and collected into one table.

A grid file names a base config, overrides shared by every run, and the axes of a
Cartesian product::

    base: ../configs/fmnist-small.yaml     # relative to the grid file
    out: runs/fmnist-moll                  # sweep folder (one run folder per point)
    overrides:                             # applied to every run
      epochs: 2
    grid:                                  # axes, in the order of the run-folder names
      mollify.enabled: [false, true]       # a config key and its values ...
      augment:                             # ... or a named axis of override bundles
        - {name: fcr, augment.policy: fcr}
        - {name: fcr+mixup, augment.policy: fcr, augment.mix: mixup}
      seed: [0, 1]
    executor:
      name: sequential                     # "sequential" | "local" | "slurm"
      max_parallel: 1                      # local: runs at a time
      timeout_min: 4320
      slurm: {partition: gpu, gpus_per_node: 1, cpus_per_task: 8, mem_gb: 32}
    collect:
      over: seed                           # averaged over (mean and standard deviation)
      metrics: [clean.error, corrupted.mean.error, clean.nll, corrupted.mean.nll,
                clean.ece, corrupted.mean.ece]

Every point becomes a run folder ``OUT/<axis>-<value>__<axis>-<value>...`` (e.g.
``OUT/mollify.enabled-true__seed-1``): names are a function of the grid alone, so a
sweep started again skips the runs that finished, resumes the ones that were
interrupted and starts the others. All configurations are validated before the first
run starts. The executors:

``sequential``
    in this process, one run after the other;
``local``
    ``submitit.LocalExecutor``: each run in its own process, ``max_parallel`` at a time;
``slurm``
    ``submitit.AutoExecutor`` on a SLURM cluster: one job array, submitted and left to
    run (collect later with ``probmoll sweep GRID.yaml --collect-only``).

Finally ``OUT/results.csv`` and ``OUT/results.md`` hold one row per grid point without
the ``over`` axis (seeds): the mean and the sample standard deviation (``ddof = 1``)
over the counted seeds of each metric, as in Table 5 (Appendix A.2) of the paper;
``OUT/severity.png`` draws error, NLL and ECE per severity, one line per setting (mean
and standard deviation over seeds) when the runs were evaluated on corruptions;
``OUT/runs.csv`` lists every run with its status and its own metrics
(:mod:`probmoll.train.collect`). A run is counted when it finished and its
``metrics.json`` reads; a finished run whose ``metrics.json`` is missing or broken is
named on stderr (one line: the path and what is wrong) and shown as ``failed``.

``collect.metrics`` are checked against the numbers a ``metrics.json`` holds
(:data:`probmoll.metrics.schema.METRIC_PATTERNS`) when the grid is read, before any run.

Exit status: 2 for a grid that cannot run (nothing started); after running, 1 when a run
failed or did not finish (``submitted`` slurm jobs are fine); with ``--collect-only``, 0
when at least one run is counted (the others are reported on stderr) and 2 when none is.
``--strict`` makes any run left out of the tables (not started, running, failed, broken
``metrics.json``) exit 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
import re
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from probmoll.train.collect import Collection, collect_results, status_summary
from probmoll.train.config import TrainConfig, load_config
from probmoll.train.results import check_metric_names
from probmoll.train.state import RunLockedError, holds_run, read_run_status
from probmoll.utils.config import ConfigError, apply_overrides, nest_dotted, read_yaml_mapping

__all__ = [
    "Collection",
    "GridPoint",
    "SweepSpec",
    "add_arguments",
    "collect_results",
    "expand_grid",
    "load_sweep",
    "run",
    "run_sweep",
]

EXECUTORS = ("sequential", "local", "slurm")
DEFAULT_METRICS = (
    "clean.error",
    "corrupted.mean.error",
    "clean.nll",
    "corrupted.mean.nll",
    "clean.ece",
    "corrupted.mean.ece",
)
_SWEEP_KEYS = ("base", "out", "overrides", "grid", "executor", "collect")
_EXECUTOR_KEYS = ("name", "max_parallel", "timeout_min", "slurm")
_COLLECT_KEYS = ("over", "metrics")


@dataclasses.dataclass(frozen=True)
class GridPoint:
    """One run of a sweep."""

    name: str  # run-folder name, e.g. "mollify.enabled-true__seed-1"
    labels: dict[str, str]  # axis -> value label, e.g. {"mollify.enabled": "true", "seed": "1"}
    overrides: dict[str, Any]  # dotted key -> value, applied after the shared overrides
    config: TrainConfig  # the validated configuration (out = sweep folder / name)


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """A parsed grid file."""

    path: Path
    out: Path
    points: list[GridPoint]
    axes: list[str]
    executor: dict[str, Any]
    over: str | None
    metrics: list[str]


# ---------------------------------------------------------------------------- grid
def _label(value: Any) -> str:
    """A value as it appears in a run-folder name (YAML spelling, path-safe)."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    elif isinstance(value, (list, tuple)):
        text = "-".join(_label(v) for v in value)
    else:
        text = str(value)
    return re.sub(r"[^A-Za-z0-9.+=-]", "_", text)


def _axis_values(axis: str, values: Any) -> list[tuple[str, dict[str, Any]]]:
    """``[(label, {dotted key: value})]`` of one grid axis."""
    if isinstance(values, str) or not isinstance(values, Sequence) or not values:
        raise ConfigError(f"grid.{axis} must be a non-empty list of values, got {values!r}")
    options = []
    for index, value in enumerate(values):
        if isinstance(value, Mapping):
            bundle = dict(value)
            label = bundle.pop("name", None)
            if not bundle:
                raise ConfigError(f"grid.{axis}[{index}] holds no override: {value!r}")
            if label is None:
                label = "_".join(f"{key.split('.')[-1]}-{_label(v)}" for key, v in bundle.items())
            options.append((_label(label), bundle))
        else:
            options.append((_label(value), {axis: value}))
    labels = [label for label, _ in options]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise ConfigError(f"grid.{axis} repeats the value(s) {duplicates}")
    return options


def expand_grid(grid: Mapping[str, Any]) -> list[tuple[dict[str, str], dict[str, Any]]]:
    """The Cartesian product of the axes: ``[(labels per axis, overrides)]``, in order.

    An axis is either a dotted config key with a list of values, or any name with a
    list of mappings ``{name: label, key: value, ...}`` applied together.
    """
    if not isinstance(grid, Mapping):
        raise ConfigError(f"grid must be a mapping of axes to lists of values, got {grid!r}")
    axes = [(axis, _axis_values(axis, values)) for axis, values in grid.items()]
    points = []
    for combination in itertools.product(*(options for _, options in axes)):
        labels, overrides = {}, {}
        for (axis, _), (label, bundle) in zip(axes, combination, strict=True):
            labels[axis] = label
            overrides.update(bundle)
        points.append((labels, overrides))
    return points


def _point_name(labels: Mapping[str, str]) -> str:
    return "__".join(f"{axis}-{label}" for axis, label in labels.items()) or "run"


def load_sweep(path: str | os.PathLike, *, out: str | None = None) -> SweepSpec:
    """Read a grid file, expand it and validate the configuration of every run.

    Raises
    ------
    ConfigError
        For an unknown key of the grid file, a bad axis, or any run whose configuration
        is invalid (naming the run and the key).
    """
    path = Path(path)
    spec = read_yaml_mapping(path)
    unknown = [key for key in spec if key not in _SWEEP_KEYS]
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]!r} in {path}; valid keys: {_SWEEP_KEYS}")
    if "base" not in spec or "grid" not in spec:
        raise ConfigError(f"{path} must name a base config (base:) and a grid (grid:)")
    base_path = (path.parent / spec["base"]).resolve()
    base = read_yaml_mapping(base_path)
    sweep_out = Path(out or spec.get("out") or Path("runs") / path.stem)
    shared = spec.get("overrides") or {}
    if not isinstance(shared, Mapping):
        raise ConfigError(f"overrides in {path} must be a mapping of dotted keys, got {shared!r}")

    executor = {"name": "sequential", "max_parallel": 1, "timeout_min": 4320, "slurm": {}}
    executor.update(spec.get("executor") or {})
    unknown = [key for key in executor if key not in _EXECUTOR_KEYS]
    if unknown:
        raise ConfigError(f"unknown key executor.{unknown[0]}; valid keys: {_EXECUTOR_KEYS}")
    if executor["name"] not in EXECUTORS:
        raise ConfigError(
            f"executor.name = {executor['name']!r} is not an executor; valid choices: "
            + ", ".join(EXECUTORS)
        )
    collect = {"over": "seed", "metrics": list(DEFAULT_METRICS)}
    collect.update(spec.get("collect") or {})
    unknown = [key for key in collect if key not in _COLLECT_KEYS]
    if unknown:
        raise ConfigError(f"unknown key collect.{unknown[0]}; valid keys: {_COLLECT_KEYS}")
    # A misspelt metric would only show as an empty column once every run has finished.
    metrics = check_metric_names(collect["metrics"], key=f"collect.metrics in {path}")

    points = []
    for labels, overrides in expand_grid(spec["grid"]):
        name = _point_name(labels)
        merged = apply_overrides(base, nest_dotted(shared))
        merged = apply_overrides(merged, nest_dotted(overrides))
        merged["out"] = str(sweep_out / name)
        try:
            # Validated here; `main` checks it again only in another process (submitit).
            config = load_config(None, merged)
        except ConfigError as error:
            raise ConfigError(f"run {name}: {error}") from None
        points.append(GridPoint(name, labels, dict(overrides), config))
    axes = list(spec["grid"])
    over = collect["over"]
    if over is not None and over not in axes:
        raise ConfigError(f"collect.over = {over!r} is not a grid axis; axes: {axes}")
    return SweepSpec(path, sweep_out, points, axes, executor, over, metrics)


# ----------------------------------------------------------------------------- runs
def run_point(config: TrainConfig) -> str:
    """Train one grid point (resuming it when it was interrupted); returns its status.

    The function submitted to the executors: it runs in the sweep's process
    (sequential) or in a fresh one (submitit).
    """
    from probmoll.train.engine import NonFiniteLossError, main

    run_dir = Path(config.out)
    try:
        main(config, resume=holds_run(run_dir))
    except NonFiniteLossError as error:
        print(f"{run_dir}: {error}", file=sys.stderr)
    except RunLockedError as error:  # another process trains this point: leave it be
        print(f"{run_dir}: {error}", file=sys.stderr)
        return "running"
    return read_run_status(run_dir) or "failed"


def _submitit_executor(spec: SweepSpec):
    import submitit

    folder = spec.out / ".submitit"
    settings = spec.executor
    if settings["name"] == "local":
        executor = submitit.LocalExecutor(folder=folder)
        executor.update_parameters(timeout_min=int(settings["timeout_min"]))
        return executor
    executor = submitit.AutoExecutor(folder=folder, cluster="slurm")
    slurm = dict(settings.get("slurm") or {})
    parameters = {
        "timeout_min": int(settings["timeout_min"]),
        "slurm_array_parallelism": int(settings["max_parallel"]),
        "name": f"probmoll-{spec.path.stem}",
    }
    for key, value in slurm.items():
        known = {"gpus_per_node", "cpus_per_task", "mem_gb", "nodes", "tasks_per_node"}
        parameters[key if key in known else f"slurm_{key}"] = value
    executor.update_parameters(**parameters)
    return executor


def run_sweep(spec: SweepSpec, *, wait: bool = True, log: Any = None) -> dict[str, str]:
    """Run the unfinished points of ``spec``; returns ``{run name: status}``.

    Finished runs (``run.json`` status ``finished``) are skipped. With the ``slurm``
    executor and ``wait=False`` the jobs are submitted and left running (status
    ``submitted``).
    """
    log = log or sys.stdout
    statuses: dict[str, str] = {}
    todo = []
    for point in spec.points:
        if read_run_status(point.config.out) == "finished":
            statuses[point.name] = "finished"
            print(f"skip {point.name}: finished", file=log)
        else:
            todo.append(point)
    name = spec.executor["name"]
    if not todo:
        return statuses
    if name == "sequential":
        from probmoll.train.engine import TrainingInterrupted

        for point in todo:
            print(f"run {point.name}", file=log, flush=True)
            try:
                statuses[point.name] = run_point(point.config)
            except TrainingInterrupted:
                raise  # SIGINT/SIGTERM stops the whole sweep (the run is checkpointed)
            except Exception as error:
                print(f"{point.name} failed: {error!r}", file=sys.stderr)
                statuses[point.name] = "failed"
        return statuses

    executor = _submitit_executor(spec)
    if name == "slurm":
        with executor.batch():
            jobs = [(point, executor.submit(run_point, point.config)) for point in todo]
        for point, job in jobs:
            print(f"submitted {point.name}: job {job.job_id}", file=log)
        if not wait:
            statuses.update({point.name: "submitted" for point, _ in jobs})
            return statuses
        pending = jobs
    else:
        pending = []
        queue = list(todo)
        max_parallel = max(1, int(spec.executor["max_parallel"]))
        running: list = []
        while queue or running:
            while queue and len(running) < max_parallel:
                point = queue.pop(0)
                print(f"run {point.name} (local process)", file=log, flush=True)
                running.append((point, executor.submit(run_point, point.config)))
            done = [(point, job) for point, job in running if job.done()]
            for item in done:
                running.remove(item)
                pending.append(item)
            if not done:
                time.sleep(0.2)
    for point, job in pending:
        try:
            statuses[point.name] = job.result()
        except Exception as error:  # the run's own traceback is in the submitit folder
            print(f"{point.name} failed: {error}", file=sys.stderr)
            statuses[point.name] = "failed"
    return statuses


# ---------------------------------------------------------------------- command line
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``probmoll sweep``."""
    parser.add_argument("grid", help="grid file (e.g. experiments/grids/fmnist-small.yaml)")
    parser.add_argument("--out", default=None, help="sweep folder (default: the grid's out:)")
    parser.add_argument(
        "--executor", choices=EXECUTORS, default=None, help="override the grid's executor.name"
    )
    parser.add_argument(
        "--max-parallel", type=int, default=None, help="override executor.max_parallel"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="list the runs and their status, run nothing"
    )
    parser.add_argument(
        "--collect-only",
        action="store_true",
        help="only write the results tables (exit 2 when no run can be counted)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 unless every run is counted (finished, with a readable metrics.json)",
    )
    parser.add_argument(
        "--no-wait",
        action="store_true",
        help="slurm: submit the jobs and return without waiting for them",
    )


def run(args: argparse.Namespace) -> int:
    """Run ``probmoll sweep``; returns the exit status (see the module's docstring)."""
    try:
        spec = load_sweep(args.grid, out=args.out)
    except (ConfigError, OSError) as error:
        print(f"probmoll sweep: error: {error}", file=sys.stderr)
        return 2
    executor = dict(spec.executor)
    if args.executor is not None:
        executor["name"] = args.executor
    if args.max_parallel is not None:
        executor["max_parallel"] = args.max_parallel
    spec = dataclasses.replace(spec, executor=executor)
    if args.dry_run:
        for point in spec.points:
            status = read_run_status(point.config.out) or "not started"
            print(f"{point.name}\t{status}\t{point.config.out}")
        return 0
    statuses = {}
    if not args.collect_only:
        statuses = run_sweep(spec, wait=not args.no_wait)
    collection = collect_results(spec)
    for problem in collection.problems:
        print(f"probmoll sweep: warning: {problem}", file=sys.stderr)
    for metric in collection.empty_metrics:
        print(
            f"probmoll sweep: warning: no counted run has {metric} in its metrics.json "
            "(its column is empty)",
            file=sys.stderr,
        )
    print((spec.out / "results.md").read_text())
    print(f"wrote {', '.join(str(path) for path in collection.written.values())}")
    return _exit_status(spec, args, statuses, collection)


def _exit_status(
    spec: SweepSpec, args: argparse.Namespace, statuses: dict[str, str], collection: Collection
) -> int:
    """The exit status of ``probmoll sweep`` once the tables are written; says why on stderr."""
    # A run this sweep saw finish whose metrics.json is broken failed all the same.
    failed = [
        name
        for name, status in statuses.items()
        if status not in ("finished", "submitted") or collection.statuses[name] == "failed"
    ]
    if failed:
        print(
            f"probmoll sweep: {len(failed)} run(s) failed or did not finish: {failed}",
            file=sys.stderr,
        )
        return 1
    if args.strict and collection.not_counted:
        print(
            f"probmoll sweep: --strict: {len(collection.not_counted)} run(s) not counted "
            f"({status_summary({n: collection.statuses[n] for n in collection.not_counted})}): "
            f"{collection.not_counted}",
            file=sys.stderr,
        )
        return 1
    if args.collect_only and spec.points and not collection.counted:
        print(
            f"probmoll sweep: error: no run in {spec.out} is counted (finished, with a "
            f"readable metrics.json): {status_summary(collection.statuses)}",
            file=sys.stderr,
        )
        return 2
    return 0
