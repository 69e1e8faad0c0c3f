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
over the finished seeds of each metric, as in Table 5 (Appendix A.2) of the paper;
``OUT/runs.csv`` lists every run with its own metrics.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import itertools
import math
import os
import re
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from probmoll.train.config import TrainConfig, load_config
from probmoll.train.results import lookup, mean_std
from probmoll.train.state import holds_run, read_run_status
from probmoll.utils.config import ConfigError, apply_overrides, nest_dotted, read_yaml_mapping
from probmoll.utils.io import atomic_write_text, read_json
from probmoll.utils.tables import markdown_table

__all__ = [
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
    return SweepSpec(path, sweep_out, points, axes, executor, over, list(collect["metrics"]))


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


# -------------------------------------------------------------------------- collect
def _csv_text(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _number(value: float | None) -> str:
    return "" if value is None or math.isnan(value) else f"{value:.6g}"


def collect_results(spec: SweepSpec) -> dict[str, Path]:
    """Write ``runs.csv``, ``results.csv`` and ``results.md`` into the sweep folder.

    ``results.*`` group the runs by every axis but ``collect.over`` and report, per
    metric, the mean and sample standard deviation (``ddof = 1``; empty for a single
    run) over the finished runs of the group, with ``n`` the number of those runs.
    Error and ECE appear in percent in the Markdown table, as in the paper's tables.
    """
    metrics = spec.metrics
    per_run = []
    for point in spec.points:
        status = read_run_status(point.config.out)
        values: dict[str, float | None] = {m: None for m in metrics}
        metrics_path = Path(point.config.out) / "metrics.json"
        if status == "finished" and metrics_path.is_file():
            results = read_json(metrics_path)
            values = {m: lookup(results, m) for m in metrics}
        per_run.append((point, status, values))

    group_axes = [axis for axis in spec.axes if axis != spec.over]
    run_header = ["run", *spec.axes, "status", *metrics]
    run_rows = [
        [point.name, *(point.labels[a] for a in spec.axes), status or "not started"]
        + [_number(values[m]) for m in metrics]
        for point, status, values in per_run
    ]
    groups: dict[tuple[str, ...], list] = {}
    for point, status, values in per_run:
        key = tuple(point.labels[a] for a in group_axes)
        groups.setdefault(key, [])
        if status == "finished":
            groups[key].append(values)

    header = [*group_axes, "n"]
    for metric in metrics:
        header += [f"{metric}.mean", f"{metric}.std"]
    rows, markdown_rows = [], []
    for key, finished in groups.items():
        row: list[Any] = [*key, len(finished)]
        cells = [*key, str(len(finished))]
        for metric in metrics:
            values = [v[metric] for v in finished if v[metric] is not None]
            if values:
                mean, std = mean_std(values)
                row += [_number(mean), _number(std)]
                scale = 100.0 if metric.endswith(("error", "ece")) else 1.0
                digits = 1 if scale == 100.0 else 3
                cell = f"{scale * mean:.{digits}f}"
                if std is not None:
                    cell += f" ({scale * std:.{digits}f})"
                cells.append(cell)
            else:
                row += ["", ""]
                cells.append("")
        rows.append(row)
        markdown_rows.append(cells)

    written = {
        "runs": atomic_write_text(spec.out / "runs.csv", _csv_text(run_header, run_rows)),
        "results": atomic_write_text(spec.out / "results.csv", _csv_text(header, rows)),
    }
    over = f" over {spec.over}" if spec.over else ""
    md_header = [*group_axes, "n"] + [
        f"{m} (%)" if m.endswith(("error", "ece")) else m for m in metrics
    ]
    lines = [
        f"# {spec.path.stem}",
        "",
        f"Mean (sample standard deviation){over}; n = finished runs. Errors and ECE in percent.",
        "",
        markdown_table(md_header, markdown_rows),
    ]
    written["markdown"] = atomic_write_text(spec.out / "results.md", "\n".join(lines) + "\n")
    return written


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
    parser.add_argument("--collect-only", action="store_true", help="only write the results tables")
    parser.add_argument(
        "--no-wait",
        action="store_true",
        help="slurm: submit the jobs and return without waiting for them",
    )


def run(args: argparse.Namespace) -> int:
    """Run ``probmoll sweep``; returns the exit status (1 when a run did not finish)."""
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
    written = collect_results(spec)
    print((spec.out / "results.md").read_text())
    print(f"wrote {', '.join(str(path) for path in written.values())}")
    failed = [name for name, status in statuses.items() if status not in ("finished", "submitted")]
    if failed:
        print(f"probmoll sweep: {len(failed)} run(s) did not finish: {failed}", file=sys.stderr)
        return 1
    return 0
