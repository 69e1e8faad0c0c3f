"""One epoch of training and the evaluation at its end, with the stop requests in between.

:func:`train_one_epoch` runs the remaining steps of the current epoch, checkpointing
every ``checkpoint_every_steps`` steps and honouring SIGINT/SIGTERM (:class:`SignalFlag`,
agreed on by every rank with :func:`vote_stop`); :func:`evaluate` scores the model on the
clean test images (only standardised: mollification only ever touches training batches).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from probmoll.evaluate.core import evaluate_images
from probmoll.train.distributed import DistributedContext
from probmoll.train.runtime import precision_dtype
from probmoll.train.trainer import Trainer
from probmoll.utils.progress import StepProgress

__all__ = [
    "SignalFlag",
    "StopRequested",
    "evaluate",
    "evaluate_epoch",
    "train_one_epoch",
    "vote_stop",
]


def evaluate(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    mean: torch.Tensor,
    std: torch.Tensor,
    *,
    num_classes: int,
    batch_size: int = 500,
    context: DistributedContext | None = None,
    autocast_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    autocast: contextlib.AbstractContextManager | None = None,
) -> dict[str, float | int]:
    """Error, NLL, ECE and Brier score of ``model`` on uint8 test images ``(N, C, H, W)``
    held as tensors (on the device), with probmoll's one evaluation loop,
    :func:`probmoll.evaluate.core.evaluate_images`.

    The images are only standardised -- no augmentation, no mollification -- and the
    model is in eval mode (BatchNorm running statistics). Under DDP each rank scores a
    contiguous share of the images and the exact metric sums are all-reduced, so the
    result does not depend on the number of processes (nor on ``batch_size``). A collective
    under DDP: every rank calls it.

    ``autocast_dtype`` runs the forward passes under :func:`torch.autocast` with that
    dtype; ``autocast`` (a ``torch.autocast`` context, as earlier releases took) is still
    accepted and stands for its dtype.
    """
    context = context or DistributedContext()
    if autocast is not None and autocast_dtype is None:
        autocast_dtype = getattr(autocast, "fast_dtype", None)
    metrics = evaluate_images(
        model,
        images,
        labels,
        mean=mean,
        std=std,
        batch_size=batch_size,
        layout="NCHW",
        device=images.device,
        num_classes=num_classes,
        autocast_dtype=autocast_dtype,
        channels_last=channels_last,
        rank=context.rank,
        world_size=context.world_size,
    )
    return metrics.compute()


def evaluate_epoch(trainer: Trainer) -> dict[str, float | int]:
    """:func:`evaluate` of the trainer's evaluation weights on its test images, as at the
    end of an epoch (a collective under DDP: every rank calls it)."""
    config = trainer.config
    trainer.synchronize_eval_model()
    return evaluate(
        trainer.eval_model,
        trainer.data.test_images,
        trainer.data.test_labels,
        trainer.data.mean,
        trainer.data.std,
        num_classes=trainer.data.info["num_classes"],
        batch_size=config.eval.batch_size,
        context=trainer.context,
        autocast_dtype=precision_dtype(config.precision),
        channels_last=config.channels_last,
    )


def train_one_epoch(
    trainer: Trainer,
    *,
    on_checkpoint: Callable[[], None],
    stop_requested: Callable[[], bool],
) -> dict[str, float]:
    """Train the remaining steps of the current epoch.

    Calls ``on_checkpoint()`` every ``checkpoint_every_steps`` steps. After a stop
    request (SIGINT/SIGTERM) it checkpoints and raises :class:`StopRequested`, except on
    the epoch's last step: then it returns and the caller stops after the epoch's end.
    Returns the epoch's training statistics (over all ranks): ``train_loss``,
    ``train_error`` and ``images_per_s``.
    """
    config = trainer.config
    k = trainer.objective.k
    # A bar on a terminal; in a log file a heartbeat line every few minutes instead.
    bar = StepProgress(
        trainer.steps_per_epoch,
        initial=trainer.step_in_epoch,
        desc=f"epoch {trainer.epoch + 1}/{config.epochs}",
        enabled=config.progress and trainer.context.is_main,
        stream=sys.stderr,
    )
    trainer.model.train()
    window_start, window_images = time.perf_counter(), 0
    epoch_start, epoch_images = window_start, 0
    for images, labels in trainer.epoch_batches():
        trainer.train_step(images, labels)
        window_images += trainer.distinct_per_step
        epoch_images += trainer.distinct_per_step
        distributed = trainer.context.is_distributed
        at_log = trainer.step % config.log_every == 0
        postfix = None
        if at_log:
            trainer.check_finite(weights=False)
            sums = trainer.epoch_sums.tolist()
            now = time.perf_counter()
            postfix = {
                "loss": f"{sums[0] / max(sums[2], 1):.3f}",
                "error": f"{100 * sums[1] / max(sums[2], 1):.1f}%",
                "img/s": f"{window_images / max(now - window_start, 1e-9):.0f}",
            }
            if k > 1:
                postfix["distinct/step"] = trainer.distinct_per_step
            window_start, window_images = now, 0
        bar.update(1, postfix)
        # A stop request on the last step of the epoch (or of the run) waits for the
        # epoch's end: there the log row and evaluation are written before the
        # checkpoint, and a run resumed from a checkpoint taken here would skip them.
        last_step = trainer.step_in_epoch >= trainer.steps_per_epoch or trainer.finished_training
        if last_step:
            stop = False
        elif distributed:
            # Every rank must stop at the same step: they vote at log points (a stop
            # request waits at most log_every steps).
            stop = at_log and vote_stop(trainer, stop_requested())
        else:
            stop = stop_requested()
        if stop:
            on_checkpoint()
            bar.close()
            raise StopRequested()
        every = config.checkpoint_every_steps
        mid_epoch = trainer.step_in_epoch < trainer.steps_per_epoch
        if every and trainer.step % every == 0 and mid_epoch and not trainer.finished_training:
            on_checkpoint()
    bar.close()
    elapsed = time.perf_counter() - epoch_start
    sums = trainer.epoch_sums.clone()
    if trainer.context.is_distributed:
        torch.distributed.all_reduce(sums)
    loss_sum, errors, count = sums.tolist()
    return {
        "train_loss": loss_sum / max(count, 1),
        "train_error": errors / max(count, 1),
        "images_per_s": epoch_images / max(elapsed, 1e-9),
    }


class StopRequested(Exception):
    """A stop request (SIGINT/SIGTERM) was honoured: the checkpoint is written.

    :func:`probmoll.train.engine.main` reports it as
    :class:`~probmoll.train.engine.TrainingInterrupted`.
    """


def vote_stop(trainer: Trainer, local_stop: bool) -> bool:
    """Whether any rank wants to stop (a collective under DDP: every rank calls it at the
    same step, so that all stop at the same step)."""
    flag = torch.tensor([int(local_stop)], device=trainer.device)
    torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
    return bool(flag.item())


class SignalFlag:
    """SIGINT/SIGTERM set a flag; the loop checkpoints at the next step and stops.

    A context manager that installs the handlers (in the main thread only) and puts the
    previous ones back; calling it says whether a signal arrived (``signum``). A second
    Ctrl-C stops at once with KeyboardInterrupt.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> SignalFlag:
        import threading

        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self.previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C stops at once
        self.signum = signum

    def __exit__(self, *exc: Any) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        self.previous.clear()

    def __call__(self) -> bool:
        return self.signum is not None
