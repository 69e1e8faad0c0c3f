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
finished), trains epoch after epoch (log row, evaluation, checkpoint at each epoch's
end), turns SIGINT/SIGTERM into a checkpoint and :class:`TrainingInterrupted`, and
finishes with the clean + corrupted evaluation into ``metrics.json``. Mollification only
ever touches training batches: :func:`evaluate` and the final report see the plain
standardised test images. Everything above stays importable from here.
"""

from __future__ import annotations

import dataclasses
import signal
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from probmoll.train.config import (
    ConfigError,
    TrainConfig,
    config_to_dict,
    dump_config,
    ensure_valid,
    load_config,
)
from probmoll.train.data import HostImages, TrainData, load_data, standardize
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
from probmoll.train.runlog import EpochLog, environment_info
from probmoll.train.runtime import resolve_device, torch_settings
from probmoll.train.schedule import WarmupCosine
from probmoll.train.state import (
    CHECKPOINT_NAME,
    CONFIG_NAME,
    METRICS_NAME,
    RUN_INFO_NAME,
    prepare_run_folder,
)
from probmoll.train.trainer import NonFiniteLossError, Trainer
from probmoll.utils.io import atomic_write_json, atomic_write_text, read_json

__all__ = [
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


def _write_run_info(run_dir: Path, info: dict[str, Any]) -> None:
    atomic_write_json(run_dir / RUN_INFO_NAME, info)


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
        as it is).
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
        Before training starts.
    NonFiniteLossError
        When the loss becomes NaN/inf (the last good checkpoint is kept).
    TrainingInterrupted
        After SIGINT/SIGTERM, once the checkpoint is written.
    """
    device = resolve_device(config.device)
    context = init_distributed(device.type)
    if device.type == "cuda" and context.is_distributed:
        device = torch.device("cuda", context.local_rank)
    try:
        return _main(config, device, context, resume=resume, overwrite=overwrite)
    finally:
        destroy_distributed(context)


def _main(
    config: TrainConfig,
    device: torch.device,
    context: DistributedContext,
    *,
    resume: bool,
    overwrite: bool,
) -> dict[str, Any] | None:
    # A configuration from load_config (or a sweep) was validated there: not again.
    ensure_valid(config, world_size=context.world_size)
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
        if saved != config:
            changed = _changed_keys(config_to_dict(saved), config_to_dict(config))
            raise ConfigError(
                f"{run_dir} was started with another configuration (differs in "
                f"{', '.join(changed)}); resume it with its own config.yaml or start a new run"
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
    data = load_data(config, device, context)
    trainer = Trainer(config, data, device, context)
    checkpoint_path = run_dir / CHECKPOINT_NAME
    if mode == "resume":
        from probmoll.models import load_checkpoint

        state = load_checkpoint(checkpoint_path, map_location=device)
        trainer.eval_model.load_state_dict(state["model_state"])
        trainer.load_state_dict(state)
        try:
            run_info = read_json(run_dir / RUN_INFO_NAME)
        except (FileNotFoundError, ValueError):
            run_info = {}  # provenance is lost, the run is not: go on without it
        run_info["resumed"] = int(run_info.get("resumed", 0)) + 1
    else:
        run_info = {}
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
                _write_run_info(run_dir, run_info)
                log = EpochLog(run_dir, tensorboard=config.tensorboard)
                log.truncate(trainer.epoch)
            try:
                _train_epochs(trainer, log, checkpoint, stop_flag)
            except StopRequested:
                status = "interrupted"
                raise TrainingInterrupted(
                    stop_flag.signum or signal.SIGTERM, trainer.step, run_dir
                ) from None
        # Final evaluation after the signal handlers are gone: the checkpoint is complete.
        results = _final_evaluation(trainer, run_dir, run_info)
        status = "finished"
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
            summary = "  ".join(
                f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}"
                for key, value in row.items()
            )
            print(summary, flush=True)
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
    if context.is_main:
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
                progress=config.progress,
            )
        autocast_dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
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
            autocast_dtype=autocast_dtype[config.precision],
            progress=config.progress,
        )
        results["checkpoint"] = str(run_dir / CHECKPOINT_NAME)
        results["model"] = config.model.name
        results["data"] = {
            "spec": config.data.name,
            "name": config.data.name,
            "corruptions": config.eval.corruptions,
            "corruptions_root": config.eval.root,
        }
        results["run"] = {
            key: run_info.get(key)
            for key in ("seed", "git_commit", "packages", "device", "world_size", "config")
        }
        results["run"]["steps"] = trainer.step
        results["run"]["train_wall_time_s"] = trainer.wall_time_s
        write_report(results, run_dir, title=run_dir.name or "Evaluation")
    barrier(context)
    return results
