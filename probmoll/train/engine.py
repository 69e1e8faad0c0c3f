"""The training engine behind ``probmoll train``: the paper's recipe (Sec. 4), resumable.

The skeleton is that of torchvision's classification reference script --
:func:`load_data`, :func:`train_one_epoch`, :func:`evaluate`, :func:`main` -- around
one :class:`Trainer` that owns the state a checkpoint must capture.

One optimiser step
------------------
1. ``batch_size / K`` distinct training images are taken from a seeded permutation
   of the training set (one permutation per epoch, drawn from the *data-order*
   generator; under DDP each rank takes a disjoint shard of every global batch);
2. uint8 images go through the per-image policy (DataLoader workers, only when the
   policy has a per-image part such as RandAugment), then FCR on the device
   (:class:`~probmoll.augment.BatchFCR`), then per-channel standardisation
   (mollification acts on standardised images, NOTES.md note 5), then MixUp/CutMix
   (soft targets);
3. :meth:`~probmoll.likelihoods.Objective.expand` repeats every image K times and the
   :class:`~probmoll.mollify.Mollifier` gives every copy its own role (clean, noise,
   blur), temperature ``t ~ Beta(alpha, beta)`` and smoothed/tempered target (Sec. 3-4);
4. forward (optionally under bf16/fp16 autocast, channels-last, ``torch.compile``),
   the negative augmented log-likelihood of the objective, backward, SGD step,
   cosine learning-rate step, optional EMA update.

Every random draw of steps 2-3 comes from the *augmentation* generator (one per rank,
on the training device), never from global RNGs, and every generator's state is saved
in the checkpoint, so a resumed run continues bit for bit (in deterministic mode).
Mollification only ever touches training batches: :func:`evaluate` and the final
report see the plain standardised test images.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import signal
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from probmoll.augment import apply_image_transform, create_augmentation
from probmoll.likelihoods import Objective
from probmoll.metrics import ClassificationMetrics
from probmoll.models import create_model, data_info, save_checkpoint
from probmoll.train.config import (
    ConfigError,
    TrainConfig,
    config_to_dict,
    dump_config,
    load_config,
    validate_config,
)
from probmoll.train.distributed import (
    DistributedContext,
    all_gather_objects,
    barrier,
    broadcast_object,
    destroy_distributed,
    init_distributed,
    shard_of_batch,
)
from probmoll.train.runlog import EpochLog, environment_info
from probmoll.train.state import (
    CHECKPOINT_NAME,
    CONFIG_NAME,
    METRICS_NAME,
    RUN_INFO_NAME,
    capture_rng_state,
    prepare_run_folder,
    restore_rng_state,
)
from probmoll.utils.io import atomic_write_json, atomic_write_text

__all__ = [
    "HostImages",
    "NonFiniteLossError",
    "TrainData",
    "Trainer",
    "TrainingInterrupted",
    "evaluate",
    "load_data",
    "main",
    "standardize",
    "train_one_epoch",
]


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN/inf; the last good checkpoint is kept."""


class TrainingInterrupted(RuntimeError):
    """SIGINT/SIGTERM arrived; a checkpoint was written before stopping."""

    def __init__(self, signum: int, step: int, run_dir: Path):
        self.signum = signum
        name = signal.Signals(signum).name
        super().__init__(
            f"stopped by {name} at step {step}; checkpoint saved, continue with "
            f"`probmoll train --resume {run_dir}`"
        )


# ------------------------------------------------------------------------- utilities
def _derive_seed(*parts: int) -> int:
    """A 63-bit seed that depends on every part (seed, purpose, rank, epoch, ...)."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(2, np.uint64)[0] >> 1)


# Purposes of the derived seeds, so that no two streams coincide.
_AUGMENT_STREAM, _TORCH_STREAM, _WORKER_STREAM = 1, 2, 3


def resolve_device(name: str) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def standardize(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 ``(B, C, H, W)`` -> float32 ``(x / 255 - mean) / std`` per channel.

    ``mean``/``std`` are ``(C,)`` tensors on the [0, 1] scale. Mollification assumes
    standardised images (Sec. 3.2: zero mean, unit variance per channel). The
    arithmetic is that of :func:`probmoll.evaluate.evaluate_model`.
    """
    shape = (1, -1, 1, 1)
    return images.to(torch.float32).div_(255.0).sub_(mean.view(shape)).div_(std.view(shape))


@contextlib.contextmanager
def _torch_settings(config: TrainConfig, device: torch.device) -> Iterator[None]:
    """Threads, determinism and cuDNN/TF32 flags for the run; restored afterwards.

    Restoring matters when ``main`` runs inside a longer-lived process (a sweep, tests).
    """
    import os

    saved = (
        torch.get_num_threads(),
        torch.are_deterministic_algorithms_enabled(),
        torch.backends.cudnn.benchmark,
        torch.backends.cudnn.deterministic,
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
    )
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    if config.deterministic:
        # cuBLAS needs this before its first use to be deterministic.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    try:
        yield
    finally:
        torch.set_num_threads(saved[0])
        torch.use_deterministic_algorithms(saved[1])
        (
            torch.backends.cudnn.benchmark,
            torch.backends.cudnn.deterministic,
            torch.backends.cuda.matmul.allow_tf32,
            torch.backends.cudnn.allow_tf32,
        ) = saved[2:]


def _autocast(config: TrainConfig, device: torch.device) -> contextlib.AbstractContextManager:
    if config.precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if config.precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


# ------------------------------------------------------------------------------ data
@dataclasses.dataclass
class TrainData:
    """Training and test images of a run, with what the model needs to know about them."""

    # uint8 (N, C, H, W): a tensor on the device, or the dataset's own array (often a
    # memory map of the cache) read a batch at a time (data.on_device).
    train_images: torch.Tensor | HostImages
    train_labels: torch.Tensor  # int64 (N,), same device as train_images
    test_images: torch.Tensor  # uint8 (M, C, H, W), on the training device
    test_labels: torch.Tensor  # int64 (M,)
    mean: torch.Tensor  # (C,) float32 on the training device, [0, 1] scale
    std: torch.Tensor  # (C,)
    info: dict[str, Any]  # probmoll.models.data_info(...) of the dataset
    test_split: Any  # the probmoll.data.DatasetSplit evaluated at the end


def load_data(config: TrainConfig, device: torch.device, context: DistributedContext) -> TrainData:
    """Load the train and test splits (rank 0 first, so that it fills the cache alone).

    The training set goes onto the device as uint8 ``(N, C, H, W)`` when it fits
    (``data.on_device``; on the CPU: into memory), else it stays where the dataset keeps
    it -- for a cached dataset a memory map, never copied whole (:class:`HostImages`).
    The test split is cut to ``eval.subset`` images.
    """
    from probmoll.data import load_dataset

    def load() -> tuple[Any, Any]:
        options = dict(
            root=config.data.root,
            cache_dir=config.data.cache_dir,
            download=config.data.download,
            **config.data.options,
        )
        return load_dataset(config.data.name, "train", **options), load_dataset(
            config.data.name, "test", **options
        )

    if context.is_main:
        train, test = load()
    barrier(context)
    if not context.is_main:
        train, test = load()
    if config.data.subset is not None and config.data.subset < len(train):
        train = train.subset(config.data.subset, seed=config.data.subset_seed)
    if config.eval.subset is not None and config.eval.subset < len(test):
        # The first images, as `probmoll evaluate --subset` and the -C sets (same order) take.
        test = test.subset(config.eval.subset)

    # Placement first: copying a large memory-mapped set into memory just to find that it
    # does not fit on the device would exhaust the host (ImageNet's training set: ~190 GB).
    if _keep_on_device(config.data.on_device, train.images, device):
        train_images, train_labels = train.to_tensor(device)
    else:
        train_images = HostImages(train.images)
        train_labels = torch.from_numpy(np.array(train.labels, dtype=np.int64))
    test_images, test_labels = test.to_tensor(device)
    height, width = train.image_size
    info = data_info(
        name=config.data.name,
        num_classes=train.num_classes,
        in_channels=train.in_channels,
        image_size=(height, width),
        mean=train.mean,
        std=train.std,
        classes=train.classes,
    )
    # Beyond the standard keys: how to load the same test split again.
    info["options"] = dict(config.data.options)
    return TrainData(
        train_images=train_images,
        train_labels=train_labels,
        test_images=test_images,
        test_labels=test_labels,
        mean=torch.tensor(train.mean, dtype=torch.float32, device=device),
        std=torch.tensor(train.std, dtype=torch.float32, device=device),
        info=info,
        test_split=test,
    )


def _keep_on_device(policy: str, images: np.ndarray, device: torch.device) -> bool:
    """Whether the training images (``(N, H, W, C)`` uint8, maybe a memory map) go to
    ``device``: ``data.on_device`` = ``"auto"`` does when they take less than a quarter of
    its free memory (on the CPU: of the available RAM; a set already in RAM always does)."""
    if policy != "auto":
        return policy == "always"
    if device.type == "cpu":
        available = _available_ram()
        in_ram = not isinstance(images, np.memmap)
        return in_ram or available is None or images.nbytes < available / 4
    free, _ = torch.cuda.mem_get_info(device)
    return images.nbytes < free / 4


def _available_ram() -> int | None:
    """Bytes of RAM available to new allocations (Linux's MemAvailable), None if unknown."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


class HostImages:
    """Training images left in the dataset's ``(N, H, W, C)`` uint8 array, seen as
    ``(N, C, H, W)``: indexing with a tensor of indices reads just those images.

    For a cached dataset the array is a read-only memory map, so a training set far
    larger than memory (ImageNet) trains with the operating system's page cache.
    DataLoader workers (per-image policies) inherit the map when forked.
    """

    def __init__(self, array: np.ndarray) -> None:
        if array.ndim != 4 or array.dtype != np.uint8:
            raise ValueError(
                f"expected uint8 images (N, H, W, C), got {array.dtype} {tuple(array.shape)}"
            )
        self.array = array
        count, height, width, channels = array.shape
        self.shape = torch.Size((count, channels, height, width))
        self.ndim = 4
        self.dtype = torch.uint8
        self.device = torch.device("cpu")

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, indices: torch.Tensor) -> torch.Tensor:
        # The same values and layout as DatasetSplit.to_tensor()[indices].
        rows = self.array[indices.cpu().numpy()]  # fancy indexing: one copy, contiguous
        return torch.from_numpy(rows).permute(0, 3, 1, 2).contiguous()

    def cpu(self) -> HostImages:
        return self


class _BatchTransformDataset(Dataset):
    """Whole training batches through a per-image policy, for DataLoader workers.

    Item ``(seed, indices)`` is the batch of those images, each transformed with the
    torch RNG seeded by ``seed`` (:func:`probmoll.augment.apply_image_transform`). The
    seed of a batch is derived from (run seed, rank, epoch, step), so the result does
    not depend on the number of workers nor on where a resumed run restarts.
    """

    def __init__(self, images: torch.Tensor, transform: Callable[[torch.Tensor], torch.Tensor]):
        self.images = images
        self.transform = transform

    def __getitem__(self, key: tuple[int, torch.Tensor]) -> torch.Tensor:
        seed, indices = key
        generator = torch.Generator().manual_seed(seed)
        return apply_image_transform(self.images[indices], self.transform, generator)


# --------------------------------------------------------------------------- schedule
class WarmupCosine:
    """Learning-rate factor: linear warm-up, then cosine annealing to ``min_ratio``.

    ``factor(step) = (step + 1) / warmup`` during warm-up, then
    ``min_ratio + (1 - min_ratio) (1 + cos(pi progress)) / 2`` with ``progress`` going
    from 0 to 1 over the remaining steps (Loshchilov and Hutter, 2016). A plain
    object, so :class:`torch.optim.lr_scheduler.LambdaLR` saves it in its state.
    """

    def __init__(self, total_steps: int, warmup_steps: int, min_ratio: float, cosine: bool):
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.min_ratio = float(min_ratio)
        self.cosine = bool(cosine)

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        if not self.cosine:
            return 1.0
        span = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / span)
        return self.min_ratio + (1.0 - self.min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


# ---------------------------------------------------------------------------- trainer
class Trainer:
    """Model, optimiser, schedule, augmentation, objective and the counters of a run.

    Built by :func:`main`; :meth:`state_dict`/:meth:`load_state_dict` are exactly what
    ``checkpoint.pt`` holds besides the model.
    """

    def __init__(
        self,
        config: TrainConfig,
        data: TrainData,
        device: torch.device,
        context: DistributedContext,
    ) -> None:
        from probmoll.mollify import create_mollifier

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
        model = create_model(config.model.name, **self.model_kwargs).to(device)
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
        self.mollifier = (
            create_mollifier(
                config.mollify,
                num_classes=info["num_classes"],
                label_form=self.objective.label_form,
                # mollify.blur_schedule=png measures its curve on these (once, on the host).
                images=data.train_images,
            )
            if config.mollify.enabled
            else None
        )
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
            _derive_seed(config.seed, _AUGMENT_STREAM, context.rank)
        )
        torch.manual_seed(_derive_seed(config.seed, _TORCH_STREAM, context.rank))
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
            _derive_seed(self.config.seed, _WORKER_STREAM, self.context.rank, self.epoch, index)
            for index in range(first, last)
        ]
        loader = DataLoader(
            _BatchTransformDataset(self.data.train_images.cpu(), transform),
            sampler=list(zip(seeds, keys, strict=True)),
            batch_size=None,
            num_workers=self.config.data.workers,
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
        with _autocast(self.config, self.device):
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
                _derive_seed(self.config.seed, _AUGMENT_STREAM, self.context.rank, self.step)
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


# ---------------------------------------------------------------------- evaluation
@torch.no_grad()
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
    autocast: contextlib.AbstractContextManager | None = None,
    channels_last: bool = False,
) -> dict[str, float | int]:
    """Error, NLL, ECE and Brier score of ``model`` on uint8 test images.

    The images are only standardised -- no augmentation, no mollification -- and the
    model is in eval mode (BatchNorm running statistics). Under DDP each rank scores a
    contiguous share of the images and the exact metric sums are all-reduced, so the
    result does not depend on the number of processes (nor on ``batch_size``).
    """
    context = context or DistributedContext()
    was_training = model.training
    model.eval()
    shares = torch.tensor_split(torch.arange(images.shape[0]), context.world_size)
    share = shares[context.rank]
    metrics = ClassificationMetrics(num_classes=num_classes).to(images.device)
    for start in range(0, share.numel(), batch_size):
        indices = share[start : start + batch_size].to(images.device)
        inputs = standardize(images[indices], mean, std)
        if channels_last:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        with autocast or contextlib.nullcontext():
            logits = model(inputs)
        metrics.update(logits.float(), labels[indices])
    # A rank without images still joins the reduction, with an all-zero state.
    metrics.all_reduce()
    model.train(was_training)
    return metrics.compute()


# ------------------------------------------------------------------------ one epoch
def train_one_epoch(
    trainer: Trainer,
    *,
    on_checkpoint: Callable[[], None],
    stop_requested: Callable[[], bool],
) -> dict[str, float]:
    """Train the remaining steps of the current epoch.

    Calls ``on_checkpoint()`` every ``checkpoint_every_steps`` steps. After a stop
    request (SIGINT/SIGTERM) it checkpoints and raises ``_Stop``, which :func:`main`
    reports as :class:`TrainingInterrupted`, except on the epoch's last step: then it
    returns and the caller stops after the epoch's end. Returns the epoch's training
    statistics (over all ranks).
    """
    from tqdm import tqdm

    config = trainer.config
    k = trainer.objective.k
    bar = tqdm(
        total=trainer.steps_per_epoch,
        initial=trainer.step_in_epoch,
        desc=f"epoch {trainer.epoch + 1}/{config.epochs}",
        disable=not (config.progress and trainer.context.is_main),
        dynamic_ncols=True,
        leave=False,
        file=sys.stderr,
    )
    trainer.model.train()
    window_start, window_images = time.perf_counter(), 0
    epoch_start, epoch_images = window_start, 0
    for images, labels in trainer.epoch_batches():
        trainer.train_step(images, labels)
        window_images += trainer.distinct_per_step
        epoch_images += trainer.distinct_per_step
        bar.update(1)
        distributed = trainer.context.is_distributed
        at_log = trainer.step % config.log_every == 0
        if at_log:
            trainer.check_finite(weights=False)
            sums = trainer.epoch_sums.tolist()
            now = time.perf_counter()
            postfix = {
                "loss": f"{sums[0] / max(sums[2], 1):.3f}",
                "err": f"{sums[1] / max(sums[2], 1):.3f}",
                "img/s": f"{window_images / max(now - window_start, 1e-9):.0f}",
            }
            if k > 1:
                postfix["distinct/step"] = trainer.distinct_per_step
            bar.set_postfix(postfix, refresh=False)
            window_start, window_images = now, 0
        # A stop request on the last step of the epoch (or of the run) waits for the
        # epoch's end: there the log row and evaluation are written before the
        # checkpoint, and a run resumed from a checkpoint taken here would skip them.
        last_step = trainer.step_in_epoch >= trainer.steps_per_epoch or trainer.finished_training
        if last_step:
            stop = False
        elif distributed:
            # Every rank must stop at the same step: they vote at log points (a stop
            # request waits at most log_every steps).
            stop = at_log and _vote(trainer, stop_requested())
        else:
            stop = stop_requested()
        if stop:
            on_checkpoint()
            bar.close()
            raise _Stop()
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


class _Stop(Exception):
    """Internal: a stop request was honoured (checkpoint written)."""


def _vote(trainer: Trainer, local_stop: bool) -> bool:
    flag = torch.tensor([int(local_stop)], device=trainer.device)
    torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
    return bool(flag.item())


# ------------------------------------------------------------------------------ main
class _SignalFlag:
    """SIGINT/SIGTERM set a flag; the loop checkpoints at the next step and stops."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> _SignalFlag:
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


def _write_run_info(run_dir: Path, info: dict[str, Any]) -> None:
    atomic_write_json(run_dir / RUN_INFO_NAME, info)


def main(
    config: TrainConfig, *, resume: bool = False, overwrite: bool = False
) -> dict[str, Any] | None:
    """Train and evaluate a run as described by ``config``; the ``probmoll train`` command.

    Parameters
    ----------
    config : TrainConfig
        The run (``config.out`` is the run folder).
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
    validate_config(config, world_size=context.world_size)
    run_dir = Path(config.out)
    mode = None
    if context.is_main:
        mode = prepare_run_folder(run_dir, resume=resume, overwrite=overwrite)
    mode = broadcast_object(context, mode)
    if mode == "finished":
        import json

        if context.is_main:
            print(f"{run_dir} already holds a finished run; nothing to do", file=sys.stderr)
            return json.loads((run_dir / METRICS_NAME).read_text())
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
    with _torch_settings(config, device):
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
        run_info = _read_json(run_dir / RUN_INFO_NAME)
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
    stop_flag = _SignalFlag()
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
            except _Stop:
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


def _read_json(path: Path) -> dict[str, Any]:
    import json

    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _train_epochs(
    trainer: Trainer, log: EpochLog | None, checkpoint: Callable[[], None], stop_flag: _SignalFlag
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
            trainer.synchronize_eval_model()
            metrics = evaluate(
                trainer.eval_model,
                trainer.data.test_images,
                trainer.data.test_labels,
                trainer.data.mean,
                trainer.data.std,
                num_classes=trainer.data.info["num_classes"],
                batch_size=config.eval.batch_size,
                context=context,
                autocast=_autocast(config, trainer.device),
                channels_last=config.channels_last,
            )
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
            stop = _vote(trainer, stop)  # a signal may reach the ranks at different times
        if stop:
            # Also after the last epoch: a resumed run starts with the final evaluation.
            raise _Stop()


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
