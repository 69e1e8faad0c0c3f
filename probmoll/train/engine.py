"""The training engine behind ``probmoll train``: the paper's recipe (Sec. 4), resumable.

The skeleton is that of torchvision's classification reference script --
:func:`load_data`, :func:`train_one_epoch`, :func:`evaluate`, :func:`main` -- around
one :class:`Trainer` that owns the state a checkpoint must capture. The pieces live in

- :mod:`probmoll.train.runtime` -- seeds of the random streams, device, torch settings,
  autocast;
- :mod:`probmoll.train.data` -- :func:`load_data`, :class:`TrainData`,
  :class:`HostImages`, :func:`standardize`;
- :mod:`probmoll.train.trainer` -- :class:`Trainer` (one optimiser step, checkpoint
  state), :class:`NonFiniteLossError`; :mod:`probmoll.train.schedule` -- the schedule;
- :mod:`probmoll.train.loop` -- :func:`train_one_epoch`, :func:`evaluate`, stop requests;

and this module runs them: :func:`main` prepares the run folder (fresh, resumed or
finished), checks everything the run needs before its first step (the checkpoint to
resume, both splits, the corruption set), trains epoch after epoch (log row, evaluation,
checkpoint at each epoch's end), turns SIGINT/SIGTERM into a checkpoint and
:class:`TrainingInterrupted`, and finishes with the clean + corrupted evaluation into
``metrics.json``. ``run.json``'s status follows the run: ``running``, then ``trained``
(training complete, final evaluation under way), ``finished``; or ``interrupted``,
``failed`` (training failed) or ``evaluation_failed`` (the weights are final: ``--resume``
goes straight to the evaluation and may change ``eval.*``). Mollification only
ever touches training batches: :func:`evaluate` and the final report see the plain
standardised test images. Everything above stays importable from here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch

from probmoll.train.config import (
    RESUME_OVERRIDES,
    ConfigError,
    TrainConfig,
    config_to_dict,
    dump_config,
    ensure_valid,
    load_config,
    resume_may_change,
)
from probmoll.train.data import (
    DataError,
    HostImages,
    TrainData,
    check_evaluation,
    load_data,
    standardize,
)
from probmoll.train.distributed import (
    DistributedContext,
    barrier,
    broadcast_object,
    destroy_distributed,
    init_distributed,
)
from probmoll.train.loop import (
    SignalFlag,
    StopRequested,
    evaluate,
    evaluate_epoch,
    train_one_epoch,
    vote_stop,
)
from probmoll.train.runlog import EpochLog, environment_info, epoch_line, summary_lines
from probmoll.train.runtime import precision_dtype, resolve_device, torch_settings
from probmoll.train.schedule import WarmupCosine
from probmoll.train.state import (
    CHECKPOINT_NAME,
    CONFIG_NAME,
    METRICS_NAME,
    RUN_INFO_NAME,
    RunFolderError,
    lock_run_folder,
    prepare_run_folder,
)
from probmoll.train.trainer import NonFiniteLossError, Trainer
from probmoll.train.wandb_log import start_wandb
from probmoll.utils.io import atomic_write_json, atomic_write_text, read_json
from probmoll.utils.progress import is_terminal

__all__ = [
    "DataError",
    "FinalEvaluationError",
    "HostImages",
    "NonFiniteLossError",
    "TrainData",
    "Trainer",
    "TrainingInterrupted",
    "WarmupCosine",
    "evaluate",
    "load_data",
    "main",
    "resolve_device",
    "standardize",
    "torch_settings",
    "train_one_epoch",
]


class TrainingInterrupted(RuntimeError):
    """SIGINT/SIGTERM arrived; a checkpoint was written before stopping."""

    def __init__(self, signum: int, step: int, run_dir: Path):
        self.signum = signum
        name = signal.Signals(signum).name
        super().__init__(
            f"stopped by {name} at step {step}; checkpoint saved, continue with "
            f"`probmoll train --resume {run_dir}`"
        )


class FinalEvaluationError(RuntimeError):
    """Training finished (``checkpoint.pt`` holds the final weights, ``run.json`` says
    ``"evaluation_failed"``) but the final evaluation failed; ``--resume`` finishes it."""

    def __init__(self, run_dir: Path, error: BaseException):
        reason = " ".join(str(error).split()) or type(error).__name__
        super().__init__(
            f"training finished but the final evaluation failed: {reason}. The trained "
            f"weights are in {run_dir / CHECKPOINT_NAME}; fix the evaluation and finish the "
            f"run without training again: probmoll train --resume {run_dir} eval.KEY=VALUE"
        )


def _write_run_info(run_dir: Path, info: dict[str, Any]) -> None:
    atomic_write_json(run_dir / RUN_INFO_NAME, info)


def _read_checkpoint(path: Path, device: torch.device) -> dict[str, Any]:
    """The training state to resume from ``path``; read before anything else is loaded,
    so that a damaged checkpoint fails at once and leaves the run folder as it was."""
    from probmoll.models import load_checkpoint

    try:
        state = load_checkpoint(path, map_location=device)
    except (OSError, ValueError) as error:
        reason = " ".join(str(error).split())
        raise RunFolderError(
            f"cannot resume {str(path.parent)!r}: {reason}; or start the run over with --overwrite"
        ) from error
    missing = [key for key in ("step", "epoch", "optimizer", "rng") if key not in state]
    if missing:
        raise RunFolderError(
            f"cannot resume from {str(path)!r}: it holds a model but no training state "
            f"(no {missing}); evaluate it with probmoll evaluate, or start over with --overwrite"
        )
    return state


def main(
    config: TrainConfig, *, resume: bool = False, overwrite: bool = False
) -> dict[str, Any] | None:
    """Train and evaluate a run as described by ``config``; the ``probmoll train`` command.

    Parameters
    ----------
    config : TrainConfig
        The run (``config.out`` is the run folder). Checked with
        :func:`~probmoll.train.config.validate_config` unless it already was (it comes
        from :func:`~probmoll.train.config.load_config` or a sweep): see
        :func:`~probmoll.train.config.ensure_valid`.
    resume : bool
        Continue the run in ``config.out`` from its checkpoint (a finished run is left
        as it is). ``config`` must be the run's own, but for
        :data:`~probmoll.train.config.RESUME_OVERRIDES` (``eval.*``, ``threads``,
        ``device``, ``progress``): a run whose training finished goes straight to its
        final evaluation, e.g. with another ``eval.corruptions``.
    overwrite : bool
        Replace a run already in ``config.out``; without it (or ``resume``) an existing
        run is an error.

    Returns
    -------
    dict or None
        The final results written to ``metrics.json`` (on rank 0; None on other ranks).

    Raises
    ------
    ConfigError, RunFolderError
        Before training starts (:class:`~probmoll.train.state.RunLockedError`, a
        RunFolderError, when another process trains in ``config.out``; a RunFolderError
        also for a checkpoint to resume that cannot be read).
    DataError
        Before training starts: a split that cannot be loaded or does not fit the
        training classes, a corruption set that lacks what ``eval`` asks.
    NonFiniteLossError
        When the loss becomes NaN/inf (the last good checkpoint is kept).
    TrainingInterrupted
        After SIGINT/SIGTERM, once the checkpoint is written.
    FinalEvaluationError
        When training finished but its final evaluation failed (``run.json``: status
        ``"evaluation_failed"`` and the ``error``); ``resume`` finishes the run.
    """
    device = resolve_device(config.device)
    context = init_distributed(device.type)
    if device.type == "cuda" and context.is_distributed:
        device = torch.device("cuda", context.local_rank)
    try:
        with _folder_lock(config, context, resume):
            return _main(config, device, context, resume=resume, overwrite=overwrite)
    finally:
        destroy_distributed(context)


@contextlib.contextmanager
def _folder_lock(config: TrainConfig, context: DistributedContext, resume: bool) -> Iterator[None]:
    """Hold the run folder's lock (rank 0) from before the folder is looked at until the
    final evaluation and ``run.json`` are written; the kernel releases it if the process
    dies, so a second process never trains (or --overwrite deletes) under a live one."""
    if not context.is_main:
        yield
        return
    # A bad config locks (creates) nothing.
    ensure_valid(config, world_size=context.world_size, resume=resume)
    lock = lock_run_folder(config.out)
    try:
        yield
    finally:
        lock.release()


def _main(
    config: TrainConfig,
    device: torch.device,
    context: DistributedContext,
    *,
    resume: bool,
    overwrite: bool,
) -> dict[str, Any] | None:
    # A configuration from load_config (or a sweep) was validated there: not again.
    ensure_valid(config, world_size=context.world_size, resume=resume)
    run_dir = Path(config.out)
    mode = None
    if context.is_main:
        mode = prepare_run_folder(run_dir, resume=resume, overwrite=overwrite)
    mode = broadcast_object(context, mode)
    if mode == "finished":
        if context.is_main:
            print(f"{run_dir} already holds a finished run; nothing to do", file=sys.stderr)
            return read_json(run_dir / METRICS_NAME)
        return None
    if mode == "resume":
        # A run folder may have moved since it was started: `out` may differ.
        saved = dataclasses.replace(
            load_config(run_dir / CONFIG_NAME, validate=False), out=config.out
        )
        # How the run is evaluated and where it runs may change (load_resume_config).
        changed = _changed_keys(config_to_dict(saved), config_to_dict(config))
        fixed = [key for key in changed if not resume_may_change(key)]
        if fixed:
            raise ConfigError(
                f"{run_dir} was started with another configuration (differs in "
                f"{', '.join(fixed)}); resume it with its own config.yaml (a resumed run "
                f"may change only {', '.join(RESUME_OVERRIDES)}) or start a new run"
            )
    with torch_settings(config, device):
        return _run(config, device, context, run_dir, mode)


def _changed_keys(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    changed = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            changed += _changed_keys(a, b, f"{prefix}{key}.")
        elif a != b:
            changed.append(f"{prefix}{key}")
    return changed


def _run(
    config: TrainConfig,
    device: torch.device,
    context: DistributedContext,
    run_dir: Path,
    mode: str,
) -> dict[str, Any] | None:
    if context.is_main:
        print(f"run folder: {run_dir}", flush=True)
    checkpoint_path = run_dir / CHECKPOINT_NAME
    # Everything the run needs is checked before its first step and before anything is
    # written, cheapest first: the checkpoint to resume, both splits (the same classes),
    # the corruption set of the final evaluation (the folder's lock showed it writable).
    state = _read_checkpoint(checkpoint_path, device) if mode == "resume" else None
    data = load_data(config, device, context)
    check_evaluation(config, data.test_split)
    # A resumed run restores its own weights: model.init_from is for a run's start only.
    trainer = Trainer(config, data, device, context, initialize=state is None)
    if state is not None:
        trainer.eval_model.load_state_dict(state["model_state"])
        trainer.load_state_dict(state)
        if context.is_main:
            if trainer.step >= trainer.total_steps:
                where = f"training complete (step {trainer.step}/{trainer.total_steps})"
                print(f"resumed: {where}, final evaluation only", flush=True)
            else:
                print(
                    f"resumed at epoch {trainer.epoch + 1}/{config.epochs}, "
                    f"step {trainer.step}/{trainer.total_steps}",
                    flush=True,
                )
        try:
            run_info = read_json(run_dir / RUN_INFO_NAME)
        except (FileNotFoundError, ValueError):
            run_info = {}  # provenance is lost, the run is not: go on without it
        run_info["resumed"] = int(run_info.get("resumed", 0)) + 1
        run_info.pop("error", None)  # of a final evaluation that failed before
    else:
        run_info = {"init_from": trainer.initialized_from}
    run_info.update(
        status="running",
        seed=config.seed,
        world_size=context.world_size,
        **environment_info(device),
        config=config_to_dict(config),
    )
    session_start = time.perf_counter()
    base_wall_time = trainer.wall_time_s

    def checkpoint() -> None:
        trainer.wall_time_s = base_wall_time + time.perf_counter() - session_start
        trainer.save_checkpoint(checkpoint_path)

    log = None
    status = "failed"
    stop_flag = SignalFlag()
    try:
        # From the moment run.json says "running", SIGINT/SIGTERM end in a checkpoint.
        with stop_flag:
            if context.is_main:
                run_dir.mkdir(parents=True, exist_ok=True)
                atomic_write_text(run_dir / CONFIG_NAME, dump_config(config))
                wandb = start_wandb(config.wandb, run_dir, run_info["config"], run_info)
                log = EpochLog(run_dir, tensorboard=config.tensorboard, wandb=wandb)
                _write_run_info(run_dir, run_info)
                log.truncate(trainer.epoch)
            try:
                _train_epochs(trainer, log, checkpoint, stop_flag)
            except StopRequested:
                status = "interrupted"
                raise TrainingInterrupted(
                    stop_flag.signum or signal.SIGTERM, trainer.step, run_dir
                ) from None
        # Training is complete and so is the checkpoint: run.json says "trained" during
        # the final evaluation (after the signal handlers are gone) and, should it fail,
        # "evaluation_failed": `--resume` then goes straight to the evaluation.
        status = "evaluation_failed"
        if context.is_main:
            run_info.update(status="trained", steps=trainer.step, epochs_completed=trainer.epoch)
            _write_run_info(run_dir, run_info)
        try:
            results = _final_evaluation(trainer, run_dir, run_info)
        except Exception as error:
            run_info["error"] = " ".join(str(error).split()) or type(error).__name__
            raise FinalEvaluationError(run_dir, error) from error
        status = "finished"
        if results is not None:
            log.summarize(results)
            print("\n".join(summary_lines(results, run_dir)), flush=True)
        return results
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        if context.is_main:
            run_info.update(
                status=status,
                steps=trainer.step,
                epochs_completed=trainer.epoch,
                wall_time_s=base_wall_time + time.perf_counter() - session_start,
            )
            _write_run_info(run_dir, run_info)
            if log is not None:
                log.close()


def _train_epochs(
    trainer: Trainer, log: EpochLog | None, checkpoint: Callable[[], None], stop_flag: SignalFlag
) -> None:
    config = trainer.config
    context = trainer.context
    # An epoch whose steps are all done but whose end (log row, evaluation) is not, as
    # in a checkpoint of an older probmoll stopped on an epoch's last step, ends here.
    while not trainer.finished_training or trainer.step_in_epoch > 0:
        epoch_stats = train_one_epoch(trainer, on_checkpoint=checkpoint, stop_requested=stop_flag)
        trainer.check_finite()
        row: dict[str, Any] = {
            "epoch": trainer.epoch,
            "step": trainer.step,
            "lr": trainer.optimizer.param_groups[0]["lr"],
            **epoch_stats,
            "distinct_images_per_step": trainer.distinct_per_step,
        }
        last_epoch = trainer.finished_training
        every = config.eval.every_epochs
        if every and ((trainer.epoch + 1) % every == 0 or last_epoch):
            metrics = evaluate_epoch(trainer)
            row.update({f"test_{name}": metrics[name] for name in ("error", "nll", "ece")})
        trainer.end_epoch()
        if log is not None:
            log.append(row)
            line = epoch_line(
                row,
                epochs=config.epochs,
                total_steps=trainer.total_steps,
                batch_size=config.batch_size,
            )
            print(line, flush=True)
        checkpoint()
        stop = stop_flag()
        if context.is_distributed:
            stop = vote_stop(trainer, stop)  # a signal may reach the ranks at different times
        if stop:
            # Also after the last epoch: a resumed run starts with the final evaluation.
            raise StopRequested()


def _final_evaluation(
    trainer: Trainer, run_dir: Path, run_info: dict[str, Any]
) -> dict[str, Any] | None:
    """Clean + corrupted evaluation of the final weights into ``metrics.json`` (rank 0).

    The test images are only standardised (no augmentation, no mollification), the
    model is in eval mode and the metrics use the hard labels (probmoll.evaluate).
    """
    from probmoll.evaluate import evaluate_model, write_report

    config = trainer.config
    context = trainer.context
    results = None
    # Bars only on a terminal: in a log file every redraw would stay.
    progress = config.progress and is_terminal(sys.stderr)
    if context.is_main:
        sets = config.eval.corruptions
        sets = "" if sets == "none" else f" and corrupted ones ({sets})"
        print(f"final evaluation: clean test images{sets}", flush=True)
        corrupted = None
        if config.eval.corruptions != "none":
            from probmoll.data.corruptions import open_corruptions

            names = config.eval.names
            corrupted = open_corruptions(
                config.eval.corruptions,
                dataset=trainer.data.test_split,
                root=config.eval.root,
                cache_dir=config.data.cache_dir,
                # What a generated set computes (published sets hold everything):
                corruptions=None if names is None else list(names),
                include_heldout=config.eval.include_heldout,
                severities=list(config.eval.severities),
                progress=progress,
                preset=config.eval.corruption_preset,
            )
        results = evaluate_model(
            trainer.eval_model,
            trainer.data.test_split,
            corrupted,
            mean=trainer.data.info["mean"],
            std=trainer.data.info["std"],
            batch_size=config.eval.batch_size,
            device=trainer.device,
            corruptions=None if config.eval.names is None else list(config.eval.names),
            severities=list(config.eval.severities),
            include_heldout=config.eval.include_heldout,
            max_examples=config.eval.subset,
            autocast_dtype=precision_dtype(config.precision),
            channels_last=config.channels_last,
            progress=progress,
        )
        results["checkpoint"] = str(run_dir / CHECKPOINT_NAME)
        results["model"] = config.model.name
        results["data"] = {
            "spec": config.data.name,
            "name": config.data.name,
            "corruptions": config.eval.corruptions,
            "corruptions_root": config.eval.root,
            # The severity constants the corrupted set was made with (None: unknown or none).
            "corruption_preset": None if corrupted is None else corrupted.preset,
        }
        results["run"] = {
            key: run_info.get(key)
            for key in (
                "seed",
                "git_commit",
                "packages",
                "device",
                "world_size",
                "threads",
                "init_from",
                "wandb",
                "config",
            )
        }
        results["run"]["steps"] = trainer.step
        results["run"]["train_wall_time_s"] = trainer.wall_time_s
        write_report(results, run_dir, title=run_dir.name or "Evaluation")
    barrier(context)
    return results
