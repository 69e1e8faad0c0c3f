"""Everything a run needs to continue exactly: RNG states and the run folder's life cycle.

A run folder ``RUN`` holds

``config.yaml``   the resolved :class:`~probmoll.train.config.TrainConfig`
``checkpoint.pt`` model (the weights to evaluate) + training state, see below
``log.jsonl``     one JSON object per epoch (``log.csv``: the same as a table)
``metrics.json``  final evaluation (written by :func:`probmoll.evaluate.write_report`)
``run.json``      status (``running``/``interrupted``/``failed``/``finished``), seed,
                  git commit, package versions, device, threads, pid and host of the
                  process that last trained in it, wall time
``run.lock``      while a process trains in the folder: its lock (:mod:`probmoll.train.lock`)
``report.md``, ``severity.png``, ``reliability.png``  the final evaluation's report

``run.json`` or ``checkpoint.pt`` marks a folder as a run; ``--overwrite`` deletes only
these files (and ``tensorboard/`` event files), never the user's files next to them.

The checkpoint is a :func:`probmoll.models.save_checkpoint` file, so
``probmoll evaluate --checkpoint RUN`` reads it, with the training state under the keys
``config``, ``step``, ``epoch``, ``step_in_epoch``, ``optimizer``, ``scheduler``,
``scaler``, ``ema``, ``train_model_state`` (the raw weights when the exported ones are
an exponential moving average), ``data_order_state`` (the data-order generator as it
was at the start of the current epoch: the epoch's permutation is drawn again from it),
``rng`` (one entry per process: torch CPU/CUDA, numpy, Python and the augmentation
generator), ``epoch_sums`` (partial training statistics of the current epoch) and
``wall_time_s``.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from probmoll.evaluate import (
    METRICS_FILE,
    RELIABILITY_PLOT_FILE,
    REPORT_FILE,
    SEVERITY_PLOT_FILE,
)
from probmoll.models import CHECKPOINT_NAME
from probmoll.train.lock import RunLock, describe_holder, is_locked

__all__ = [
    "RUN_FILES",
    "RUN_MARKS",
    "RunFolderError",
    "RunLockedError",
    "capture_rng_state",
    "holds_run",
    "lock_run_folder",
    "prepare_run_folder",
    "read_run_status",
    "restore_rng_state",
]

CONFIG_NAME = "config.yaml"
RUN_INFO_NAME = "run.json"
METRICS_NAME = METRICS_FILE
LOG_JSONL_NAME = "log.jsonl"
LOG_CSV_NAME = "log.csv"
TENSORBOARD_NAME = "tensorboard"
# What makes a folder a probmoll run: files only a training run writes (config.yaml or
# metrics.json alone may be a user's file or a `probmoll evaluate` report).
RUN_MARKS = (RUN_INFO_NAME, CHECKPOINT_NAME)
# Every file a run writes in its folder (besides TensorBoard's event files under
# TENSORBOARD_NAME): what --overwrite removes, and nothing else.
RUN_FILES = (
    CONFIG_NAME,
    CHECKPOINT_NAME,
    RUN_INFO_NAME,
    METRICS_NAME,
    LOG_JSONL_NAME,
    LOG_CSV_NAME,
    REPORT_FILE,
    SEVERITY_PLOT_FILE,
    RELIABILITY_PLOT_FILE,
)


class RunFolderError(RuntimeError):
    """The run folder holds a run that this command must not overwrite."""


class RunLockedError(RunFolderError):
    """Another process trains in the run folder (it holds the folder's lock)."""


# ------------------------------------------------------------------------- RNG states
def capture_rng_state(augment_generator: torch.Generator) -> dict[str, Any]:
    """The random state of this process, as plain tensors and Python values.

    Covers torch's default CPU generator, every CUDA device's generator (when CUDA is
    initialised), numpy's and Python's global generators (library code never uses them,
    but user models might) and the engine's augmentation/mollification generator.
    """
    # numpy's legacy global generator: probmoll never uses it, user code might.
    numpy_state = np.random.get_state()  # noqa: NPY002
    python_state = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
        "numpy": {
            "algorithm": numpy_state[0],
            "keys": torch.from_numpy(numpy_state[1].astype(np.int64)),
            "position": int(numpy_state[2]),
            "has_gauss": int(numpy_state[3]),
            "cached_gaussian": float(numpy_state[4]),
        },
        "python": [python_state[0], list(python_state[1]), python_state[2]],
        "augment": augment_generator.get_state(),
    }
    return state


def restore_rng_state(state: dict[str, Any], augment_generator: torch.Generator) -> None:
    """Undo :func:`capture_rng_state` (in place)."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    numpy_state = state["numpy"]
    np.random.set_state(  # noqa: NPY002
        (
            numpy_state["algorithm"],
            numpy_state["keys"].numpy().astype(np.uint32),
            numpy_state["position"],
            numpy_state["has_gauss"],
            numpy_state["cached_gaussian"],
        )
    )
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    augment_generator.set_state(state["augment"])


# ------------------------------------------------------------------- run folder guard
def read_run_status(run_dir: str | os.PathLike) -> str | None:
    """``status`` of ``RUN/run.json`` (None when the folder holds no run).

    A run that says a process is at work on it (``"running"``, or ``"trained"`` during
    the final evaluation) while no process holds the folder's lock belongs to a process
    that died (SIGKILL, out of memory, a lost node): it reads ``"interrupted"``, and
    ``probmoll train --resume`` continues it.
    """
    status = _recorded_status(run_dir)
    if status in _LIVE_STATUSES and is_locked(run_dir) is False:
        return "interrupted"
    return status


# Statuses that a training process writes while it works and replaces when it ends.
_LIVE_STATUSES = ("running", "trained")


def _recorded_status(run_dir: str | os.PathLike) -> str | None:
    path = Path(run_dir) / RUN_INFO_NAME
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text()).get("status")
    except (OSError, ValueError):
        return "unknown"


def lock_run_folder(run_dir: str | os.PathLike) -> RunLock:
    """Lock ``run_dir`` for this process (creating the folder), to be released at the end.

    Raises
    ------
    RunLockedError
        When another process holds the lock: the message names its pid, host and since
        when it trains.
    RunFolderError
        When the folder cannot be created or written.
    """
    lock = RunLock(run_dir)
    try:
        taken = lock.try_acquire()
    except OSError as error:
        raise RunFolderError(
            f"cannot write in the run folder {str(run_dir)!r}: {error.strerror or error}; "
            "choose another out=... or fix its permissions"
        ) from None
    if not taken:
        raise RunLockedError(describe_holder(run_dir, lock.holder))
    return lock


def holds_run(run_dir: str | os.PathLike) -> bool:
    """Whether ``run_dir`` holds a probmoll training run (``run.json`` or ``checkpoint.pt``)."""
    return any((Path(run_dir) / name).is_file() for name in RUN_MARKS)


def _run_outputs(run_dir: Path) -> list[Path]:
    """The files of :data:`RUN_FILES` in ``run_dir``, their left-over atomic-write
    temporaries (``.NAME.*.tmp``) and TensorBoard's event files."""
    paths = [run_dir / name for name in RUN_FILES if (run_dir / name).is_file()]
    for name in RUN_FILES:
        paths.extend(p for p in run_dir.glob(f".{name}.*.tmp") if p.is_file())
    paths.extend(p for p in (run_dir / TENSORBOARD_NAME).glob("events.out.tfevents.*"))
    return paths


def _remove_run(run_dir: Path) -> None:
    """Delete the files a run wrote in ``run_dir``; anything else in it stays."""
    for path in _run_outputs(run_dir):
        path.unlink()
    tensorboard = run_dir / TENSORBOARD_NAME
    if tensorboard.is_dir() and not any(tensorboard.iterdir()):
        tensorboard.rmdir()


def prepare_run_folder(run_dir: str | os.PathLike, *, resume: bool, overwrite: bool) -> str:
    """Decide what to do with ``run_dir`` before training; never lose a finished run.

    The caller holds the folder's lock (:func:`lock_run_folder`), so a run whose
    ``run.json`` still says ``"running"`` (or ``"trained"``) is one whose process died:
    ``"interrupted"``.

    Returns
    -------
    str
        ``"fresh"`` (start a new run), ``"resume"`` (continue from ``checkpoint.pt``) or
        ``"finished"`` (``resume`` asked for a run that already finished: nothing to do).

    Raises
    ------
    RunFolderError
        When ``run_dir`` holds a run and neither ``resume`` nor ``overwrite`` says what
        to do with it; when ``resume`` finds no run; when ``run_dir`` is not a run but
        holds files a run would overwrite (e.g. a ``config.yaml``) and ``overwrite`` is
        not given.
    """
    run_dir = Path(run_dir)
    if resume and overwrite:
        raise ValueError("--resume and --overwrite exclude each other")
    if not holds_run(run_dir):
        if resume:
            raise RunFolderError(
                f"cannot resume: {str(run_dir)!r} holds no run (no {' or '.join(RUN_MARKS)})"
            )
        clashing = [path.name for path in _run_outputs(run_dir)] if run_dir.is_dir() else []
        if clashing and not overwrite:
            raise RunFolderError(
                f"{str(run_dir)!r} is not a probmoll run (no {' or '.join(RUN_MARKS)}) but "
                f"holds {clashing}, which a run would overwrite; choose another out=... or "
                "pass --overwrite to replace those files"
            )
        _remove_run(run_dir)
        return "fresh"
    # The caller holds the folder's lock: a run still "running" has no live process.
    status = _recorded_status(run_dir)
    if status in _LIVE_STATUSES:
        status = "interrupted"
    if overwrite:
        # The run's own files only: a run folder may also hold the user's notes, data...
        _remove_run(run_dir)
        return "fresh"
    if resume:
        if status == "finished":
            return "finished"
        if not (run_dir / "checkpoint.pt").is_file():
            # Stopped before its first checkpoint: start it again from its config.
            return "fresh"
        return "resume"
    if status == "finished":
        raise RunFolderError(
            f"{str(run_dir)!r} already holds a finished run; pass --overwrite to replace it "
            "or choose another out=..."
        )
    raise RunFolderError(
        f"{str(run_dir)!r} already holds an unfinished run (status {status!r}); pass "
        "--resume to continue it or --overwrite to start over"
    )
