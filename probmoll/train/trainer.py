"""The :class:`Trainer`: model, optimiser, schedule, augmentation, mollification, objective
and the counters of a run -- one optimiser step, and the state a checkpoint must capture.

One optimiser step
------------------
1. ``batch_size / K`` distinct training images are taken from a seeded permutation
   of the training set (one permutation per epoch, drawn from the *data-order*
   generator; under DDP each rank takes a disjoint shard of every global batch);
2. uint8 images go through the per-image policy (DataLoader workers, only when the
   policy has a per-image part such as RandAugment), then FCR on the device
   (:class:`~probmoll.augment.BatchFCR`), then per-channel standardisation
   (mollification acts on standardised images, docs/paper-readings.md, reading 5), then
   MixUp/CutMix (soft targets);
3. :meth:`~probmoll.likelihoods.Objective.expand` repeats every image K times and the
   :class:`~probmoll.mollify.Mollifier` gives every copy its own role (clean, noise,
   blur), temperature ``t ~ Beta(alpha, beta)`` and smoothed/tempered target (Sec. 3-4);
4. forward (optionally under bf16/fp16 autocast, channels-last, ``torch.compile``),
   the negative augmented log-likelihood of the objective, backward, SGD step,
   cosine learning-rate step, optional EMA update.

Every random draw of steps 2-3 comes from the *augmentation* generator (one per rank,
on the training device), never from global RNGs, and every generator's state is saved
in the checkpoint, so a resumed run continues bit for bit (in deterministic mode).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from probmoll.augment import create_augmentation
from probmoll.evaluate.core import standardize
from probmoll.likelihoods import Objective
from probmoll.models import create_model, initialize_from, save_checkpoint
from probmoll.mollify import Mollifier, create_mollifier
from probmoll.train.config import ConfigError, TrainConfig, config_to_dict
from probmoll.train.data import BatchTransformDataset, TrainData
from probmoll.train.distributed import (
    DistributedContext,
    all_gather_objects,
    barrier,
    shard_of_batch,
)
from probmoll.train.runtime import (
    AUGMENT_STREAM,
    TORCH_STREAM,
    WORKER_STREAM,
    derive_seed,
    precision_autocast,
    worker_init,
)
from probmoll.train.schedule import WarmupCosine
from probmoll.train.state import capture_rng_state, restore_rng_state

__all__ = ["NonFiniteLossError", "Trainer"]


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN/inf; the last good checkpoint is kept."""


def _initialize(model: nn.Module, source: str, context: DistributedContext) -> dict[str, Any]:
    """``model.init_from``: the weights of ``source`` into ``model`` (before the EMA copy,
    DDP and compilation), a one-line notice for a classification layer left at its fresh
    initialisation; weights that do not fit raise a ConfigError."""
    try:
        record = initialize_from(model, source)
    except (OSError, ValueError, RuntimeError) as error:
        raise ConfigError(f"model.init_from = {source!r}: {error}") from error
    if record["reinitialized"] and context.is_main:
        print(
            f"model.init_from: {source} has {record['source_classes']} classes: the "
            f"classification layer ({', '.join(record['reinitialized'])}) starts from a "
            "fresh initialisation, every other weight from the source",
            file=sys.stderr,
        )
    return record


class Trainer:
    """Model, optimiser, schedule, augmentation, objective and the counters of a run.

    Built by :func:`main`; :meth:`state_dict`/:meth:`load_state_dict` are exactly what
    ``checkpoint.pt`` holds besides the model. With ``initialize`` (a run that starts
    rather than resumes), the model starts from the weights of ``model.init_from`` when
    that is set; :attr:`initialized_from` then says what was loaded (None otherwise).
    """

    def __init__(
        self,
        config: TrainConfig,
        data: TrainData,
        device: torch.device,
        context: DistributedContext,
        *,
        initialize: bool = True,
    ) -> None:
        self.config = config
        self.data = data
        self.device = device
        self.context = context
        info = data.info
        height, width = info["image_size"]
        self.model_kwargs = dict(
            num_classes=info["num_classes"],
            in_channels=info["in_channels"],
            image_size=height,
            **config.model.kwargs,
        )
        # Identical initial weights on every rank (DDP would broadcast them anyway).
        torch.manual_seed(config.seed)
        model = create_model(config.model.name, **self.model_kwargs)
        self.initialized_from: dict[str, Any] | None = None
        if initialize and config.model.init_from is not None:
            self.initialized_from = _initialize(model, config.model.init_from, context)
        model = model.to(device)
        if config.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model  # the plain module (evaluation, checkpoints)
        self.ema = None
        if config.ema.decay is not None:
            self.ema = torch.optim.swa_utils.AveragedModel(
                model,
                multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(config.ema.decay),
                use_buffers=True,
            )
        train_model: nn.Module = model
        if context.is_distributed:
            train_model = nn.parallel.DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None
            )
        if config.compile:
            train_model = torch.compile(train_model)
        self.train_model = train_model

        self.objective = Objective(config.likelihood)
        self.augmentation = create_augmentation(
            config.augment, (height, width), info["num_classes"]
        )
        mollifier = create_mollifier(
            config.mollify,
            num_classes=info["num_classes"],
            label_form=self.objective.label_form,
            # mollify.blur_schedule=png measures its curve on these (once, on the host).
            images=data.train_images,
        )
        # A mollifier that passes every batch unchanged (e.g. mollify.enabled = false) is
        # not called at all: no random draws, no time spent.
        self.mollifier: Mollifier | None = None if mollifier.is_identity else mollifier
        self.optimizer = torch.optim.SGD(
            model.parameters(),
            lr=config.optim.lr,
            momentum=config.optim.momentum,
            weight_decay=config.optim.weight_decay,
            nesterov=config.optim.nesterov,
        )
        # Distinct images per step (over all ranks), and steps per epoch.
        self.distinct_per_step = config.batch_size // config.likelihood.k
        num_train = data.train_images.shape[0]
        self.steps_per_epoch = num_train // self.distinct_per_step
        if self.steps_per_epoch < 1:
            raise ConfigError(
                f"the training set has {num_train} images, fewer than the "
                f"{self.distinct_per_step} distinct images of one step (batch_size / "
                "likelihood.k); lower batch_size or enlarge data.subset"
            )
        full = config.epochs * self.steps_per_epoch
        self.total_steps = full if config.max_steps is None else min(full, config.max_steps)
        warmup_steps = round(config.schedule.warmup_epochs * self.steps_per_epoch)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            WarmupCosine(
                self.total_steps,
                warmup_steps,
                config.schedule.min_lr / config.optim.lr,
                cosine=config.schedule.name == "cosine",
            ),
        )
        self.scaler = None
        if config.precision == "fp16":
            self.scaler = torch.amp.GradScaler(device.type)
        # Random streams: data order (shared by all ranks, on the CPU) and
        # augmentation/mollification (one per rank, on the training device).
        self.data_order = torch.Generator().manual_seed(config.seed)
        self.augment_generator = torch.Generator(device=device).manual_seed(
            derive_seed(config.seed, AUGMENT_STREAM, context.rank)
        )
        torch.manual_seed(derive_seed(config.seed, TORCH_STREAM, context.rank))
        # Counters: optimiser steps so far, the epoch in progress and its steps done.
        self.step = 0
        self.epoch = 0
        self.step_in_epoch = 0
        self.epoch_order_state = self.data_order.get_state()
        # Sums over the epoch so far on this rank: [loss * images, errors, images].
        self.epoch_sums = torch.zeros(3, dtype=torch.float64, device=device)
        self.wall_time_s = 0.0

    # ------------------------------------------------------------------ properties
    @property
    def eval_model(self) -> nn.Module:
        """The weights reported: the EMA when configured, else the trained ones."""
        if self.ema is not None and self.config.ema.evaluate:
            return self.ema.module
        return self.model

    @property
    def finished_training(self) -> bool:
        return self.step >= self.total_steps

    # ---------------------------------------------------------------- batch stages
    def epoch_batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield this rank's uint8 images and labels for the remaining steps of the epoch.

        The epoch's permutation is drawn from the data-order generator, whose state at the
        start of the epoch is kept in :attr:`epoch_order_state` (that is what a checkpoint
        saves), so a resumed run draws the same permutation and skips the steps done.
        """
        self.epoch_order_state = self.data_order.get_state()
        num_train = self.data.train_images.shape[0]
        permutation = torch.randperm(num_train, generator=self.data_order)
        first = self.step_in_epoch
        last = min(self.steps_per_epoch, first + self.total_steps - self.step)
        keys = []
        for index in range(first, last):
            batch = permutation[
                index * self.distinct_per_step : (index + 1) * self.distinct_per_step
            ]
            keys.append(shard_of_batch(batch, self.context))
        images, labels = self.data.train_images, self.data.train_labels
        transform = self.augmentation.image_transform
        if transform is None:
            for indices in keys:
                indices = indices.to(images.device, non_blocking=True)
                yield images[indices], labels[indices]
            return
        seeds = [
            derive_seed(self.config.seed, WORKER_STREAM, self.context.rank, self.epoch, index)
            for index in range(first, last)
        ]
        loader = DataLoader(
            BatchTransformDataset(self.data.train_images.cpu(), transform),
            sampler=list(zip(seeds, keys, strict=True)),
            batch_size=None,
            num_workers=self.config.data.workers,
            worker_init_fn=worker_init,  # one thread per worker: never more than the CPUs
            pin_memory=self.device.type == "cuda",
            # Its own generator: creating the loader must not draw from torch's global RNG.
            generator=torch.Generator().manual_seed(self.config.seed),
        )
        cpu_labels = self.data.train_labels.cpu()
        for indices, batch_images in zip(keys, loader, strict=True):
            yield batch_images, cpu_labels[indices]

    def prepare_batch(
        self, images: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """uint8 images and labels -> (model inputs, training targets, hard labels).

        The hard labels (repeated K times like the inputs) only score the training error.
        """
        generator = self.augment_generator
        images = images.to(self.device, non_blocking=True)
        labels = labels.to(self.device, non_blocking=True)
        if self.augmentation.batch_transform is not None:
            images = self.augmentation.batch_transform(images, generator=generator)
        inputs = standardize(images, self.data.mean, self.data.std)
        targets = labels
        if self.augmentation.mixing is not None:
            inputs, targets = self.augmentation.mixing(inputs, targets, generator=generator)
        inputs, targets = self.objective.expand(inputs, targets)
        hard_labels = labels.repeat(self.objective.k)
        if self.mollifier is not None:
            mollified = self.mollifier(inputs, targets, generator=generator)
            inputs, targets = mollified.x, mollified.y
        if self.config.channels_last:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        return inputs, targets, hard_labels

    def train_step(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        """One optimiser step on a batch; statistics stay on the device."""
        inputs, targets, hard_labels = self.prepare_batch(images, labels)
        with precision_autocast(self.config, self.device):
            logits = self.train_model(inputs)
        loss = self.objective(logits.float(), targets)
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        with torch.no_grad():
            count = float(labels.shape[0])
            errors = (logits.argmax(dim=1) != hard_labels).sum() / self.objective.k
            self.epoch_sums += torch.stack(
                [loss.detach().double() * count, errors.double(), loss.new_tensor(count).double()]
            )
        self.step += 1
        self.step_in_epoch += 1

    # ---------------------------------------------------------------- persistence
    def state_dict(self) -> dict[str, Any]:
        """Training state for ``checkpoint.pt`` (collective under DDP: every rank calls it)."""
        rng = all_gather_objects(self.context, capture_rng_state(self.augment_generator))
        sums = all_gather_objects(self.context, self.epoch_sums.cpu())
        return {
            "config": config_to_dict(self.config),
            "step": self.step,
            "epoch": self.epoch,
            "step_in_epoch": self.step_in_epoch,
            "total_steps": self.total_steps,
            "world_size": self.context.world_size,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": None if self.scaler is None else self.scaler.state_dict(),
            "ema": None if self.ema is None else self.ema.state_dict(),
            "train_model_state": self.model.state_dict() if self.ema is not None else None,
            "data_order_state": self.epoch_order_state,
            "rng": rng,
            "epoch_sums": sums,
            "wall_time_s": self.wall_time_s,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` (the exported weights are loaded by the caller)."""
        if state["train_model_state"] is not None:
            self.model.load_state_dict(state["train_model_state"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler is not None and state["scaler"] is not None:
            self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None and state["ema"] is not None:
            self.ema.load_state_dict(state["ema"])
        self.step = int(state["step"])
        self.epoch = int(state["epoch"])
        self.step_in_epoch = int(state["step_in_epoch"])
        self.wall_time_s = float(state["wall_time_s"])
        self.data_order.set_state(state["data_order_state"])
        same_world = state["world_size"] == self.context.world_size
        if same_world:
            restore_rng_state(state["rng"][self.context.rank], self.augment_generator)
            self.epoch_sums = state["epoch_sums"][self.context.rank].to(self.device)
        else:
            # Another number of processes: the shards differ anyway; derive fresh
            # per-rank streams from the step so that the run stays reproducible.
            self.augment_generator.manual_seed(
                derive_seed(self.config.seed, AUGMENT_STREAM, self.context.rank, self.step)
            )
            self.epoch_sums.zero_()
            if self.context.is_main:
                print(
                    f"resuming with {self.context.world_size} processes instead of "
                    f"{state['world_size']}: augmentation streams are re-seeded",
                    file=sys.stderr,
                )

    def save_checkpoint(self, path: Path) -> None:
        """Write ``checkpoint.pt`` (rank 0; every rank must call this, it gathers RNG states)."""
        self.check_finite()
        extra = self.state_dict()
        if self.context.is_main:
            save_checkpoint(
                path,
                model=self.eval_model,
                model_name=self.config.model.name,
                model_kwargs=self.model_kwargs,
                data=self.data.info,
                extra=extra,
            )
        barrier(self.context)

    def end_epoch(self) -> None:
        """Move the counters to the start of the next epoch.

        The data-order state saved from now on is the one the next epoch's permutation
        will be drawn from.
        """
        self.epoch += 1
        self.step_in_epoch = 0
        self.epoch_sums.zero_()
        self.epoch_order_state = self.data_order.get_state()

    def synchronize_eval_model(self) -> None:
        """Give every rank rank 0's evaluation weights (collective under DDP).

        DDP keeps parameters equal across ranks, but BatchNorm statistics are only
        broadcast from rank 0 *before* each forward pass, so after the last step each
        rank holds its own; rank 0's are the ones saved in the checkpoint.
        """
        if not self.context.is_distributed:
            return
        with torch.no_grad():
            for tensor in self.eval_model.state_dict().values():
                torch.distributed.broadcast(tensor, src=0)

    def check_finite(self, *, weights: bool = True) -> None:
        """Refuse to go on (and to overwrite a good checkpoint) with NaN/inf loss or weights.

        A collective under DDP: every rank calls it at the same step.
        """
        finite = torch.isfinite(self.epoch_sums[0])
        if weights:
            # Parameters, BatchNorm statistics and momentum buffers: any of them going
            # non-finite makes the checkpoint useless.
            tensors = [t for t in self.model.state_dict().values() if t.is_floating_point()]
            for state in self.optimizer.state.values():
                tensors.extend(t for t in state.values() if torch.is_tensor(t) and t.numel() > 1)
            finite = finite & torch.stack([torch.isfinite(t).all() for t in tensors]).all()
        if self.context.is_distributed:
            flag = finite.to(torch.int32)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MIN)
            finite = flag.bool()
        if not bool(finite):
            raise NonFiniteLossError(
                f"the training loss became non-finite (NaN/inf) by step {self.step} "
                f"(epoch {self.epoch + 1}); stopped without overwriting the last good "
                f"checkpoint. Lower optim.lr (now {self.config.optim.lr})"
                + (" or use precision=fp32." if self.config.precision != "fp32" else ".")
            )
