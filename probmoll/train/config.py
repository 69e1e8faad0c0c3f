"""Typed training configuration: frozen dataclasses, YAML files, ``key=value`` overrides.

One :class:`TrainConfig` describes a whole run. It is read from a YAML file whose
sections mirror the dataclasses (``data``, ``model``, ``augment``, ``mollify``,
``likelihood``, ``optim``, ``schedule``, ``ema``, ``eval``, ``wandb``), updated with
dotted ``key=value`` overrides from the command line (values are parsed as YAML, so
``likelihood.k=4``, ``mollify.enabled=false`` and ``eval.severities=[1,5]`` all do what
they say), checked field by field against the type annotations, and validated as a
whole *before* any data is loaded. The resolved configuration is written to
``RUN/config.yaml``; ``probmoll train --config RUN/config.yaml`` repeats the run.

The sections ``augment``, ``mollify``, ``likelihood`` and ``wandb`` are the
configuration dataclasses of :mod:`probmoll.augment`, :mod:`probmoll.mollify`,
:mod:`probmoll.likelihoods` and :mod:`probmoll.train.wandb_log` themselves, so every
option of those is reachable from a config file without a second copy of their
defaults here. The file format itself (dataclass <-> dict <-> YAML, overrides) is
:mod:`probmoll.utils.config`; the checks across sections are
:mod:`probmoll.train.checks`.

Validated once: :func:`load_config` returns a configuration that passed
:func:`validate_config`, and the training engine checks only configurations that did
not (see :func:`ensure_valid`).

Defaults follow the paper's training recipe (Sec. 4; docs/paper-readings.md, reading 9):
SGD with momentum 0.9, weight decay 5e-4, initial learning rate 0.01 with cosine
annealing, mini-batches of 128, 300 epochs.

>>> config = load_config("experiments/configs/smoke.yaml", ["seed=3"])  # doctest: +SKIP
>>> config.seed  # doctest: +SKIP
3
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from probmoll.augment import AugmentConfig
from probmoll.likelihoods import LikelihoodConfig
from probmoll.mollify import MollifyConfig
from probmoll.train.checks import (
    check,
    check_corruption_preset,
    check_corruptions,
    check_dataset_options,
    check_init_from,
    check_likelihood_copies,
    check_machine,
    check_model_kwargs,
    check_tempered_targets,
    check_wandb,
)
from probmoll.train.wandb_log import WandbConfig
from probmoll.utils.config import (
    ConfigError,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    dump_yaml,
    nest_dotted,
    parse_overrides,
    read_yaml_mapping,
)

__all__ = [
    "RESUME_OVERRIDES",
    "ConfigError",
    "DataConfig",
    "EmaConfig",
    "EvalConfig",
    "ModelConfig",
    "OptimConfig",
    "ScheduleConfig",
    "TrainConfig",
    "WandbConfig",
    "apply_overrides",
    "config_from_dict",
    "config_to_dict",
    "dump_config",
    "ensure_valid",
    "load_config",
    "load_resume_config",
    "nest_dotted",
    "parse_overrides",
    "read_yaml_mapping",
    "resume_may_change",
    "validate_config",
]


# ----------------------------------------------------------------------------- sections
@dataclass(frozen=True)
class DataConfig:
    """Which images to train and evaluate on."""

    # Dataset registry name (see probmoll.data.list_datasets()).
    name: str = "cifar10"
    # Folder holding the raw files; None lets the loader search its default places.
    root: str | None = None
    # Folder for decoded uint8 arrays (fast reloads); None: the loader's default.
    cache_dir: str | None = None
    # Train on a random subset of this many training images (None: all of them).
    subset: int | None = None
    # Seed of that subset, kept apart from `seed` so that every seed of a sweep sees
    # the same images.
    subset_seed: int = 0
    # Download the raw files when missing (datasets torchvision can download).
    download: bool = False
    # Extra keyword options for probmoll.data.load_dataset (dataset specific).
    options: dict[str, Any] = field(default_factory=dict)
    # Keep the uint8 training set on the training device (on a CPU: copied into memory):
    # "auto" does when it takes less than a quarter of the device's free memory (a set
    # already in memory always stays there on a CPU). Otherwise batches are read from
    # where the dataset keeps the images (the cache's memory map): never copied whole.
    on_device: Literal["auto", "always", "never"] = "auto"
    # DataLoader worker processes, used only when the augmentation policy works
    # image by image (torchvision policies such as RandAugment).
    workers: int = 2


@dataclass(frozen=True)
class ModelConfig:
    """The network, built by probmoll.models.create_model."""

    # Model registry name (see probmoll.models.list_models()).
    name: str = "preact_resnet50"
    # Extra keyword arguments of the model factory, e.g. {width: 8}.
    kwargs: dict[str, Any] = field(default_factory=dict)
    # Start from trained weights (fine-tuning): a probmoll run folder or checkpoint, a
    # state-dict file, or a torchvision weights name such as ResNet50_Weights.IMAGENET1K_V2.
    # Loaded once the model is built, before the first step, never on resume (a resumed
    # run restores its own checkpoint). A classification layer for another number of
    # classes keeps its fresh initialisation; any other difference is an error.
    init_from: str | None = None


@dataclass(frozen=True)
class OptimConfig:
    """Stochastic gradient descent (the paper's optimiser)."""

    # Optimiser; only SGD is used in the paper.
    name: Literal["sgd"] = "sgd"
    # Initial (peak) learning rate.
    lr: float = 0.01
    # Heavy-ball momentum.
    momentum: float = 0.9
    # L2 weight decay applied by the optimiser to every parameter.
    weight_decay: float = 5e-4
    # Nesterov momentum instead of heavy-ball momentum.
    nesterov: bool = False


@dataclass(frozen=True)
class ScheduleConfig:
    """Learning-rate schedule, advanced after every optimiser step."""

    # "cosine": cosine annealing from optim.lr to min_lr over the run (Loshchilov and
    # Hutter, 2016); "constant": optim.lr throughout.
    name: Literal["cosine", "constant"] = "cosine"
    # Linear warm-up from 0 to optim.lr over this many epochs (fractions allowed).
    warmup_epochs: float = 0.0
    # Learning rate at the end of the cosine.
    min_lr: float = 0.0


@dataclass(frozen=True)
class EmaConfig:
    """Exponential moving average of the weights (off by default, as in the paper)."""

    # Decay per optimiser step, e.g. 0.999; None disables the average.
    decay: float | None = None
    # Evaluate (and export in checkpoint.pt's model_state) the averaged weights.
    evaluate: bool = True


@dataclass(frozen=True)
class EvalConfig:
    """Evaluation after training (clean test split plus corruptions) and during it."""

    # Corruption benchmark: "none"; "generated" (computed locally from the test images
    # with imagecorruptions, cached); "cifar10-c", "cifar100-c", "tinyimagenet-c" (the
    # published sets, read from eval.root); or the folder of a set.
    corruptions: str = "none"
    # Severity constants of a generated set: "auto" (cifar10-c up to 32 px, tinyimagenet-c
    # up to 64 px, else imagenet-c), "imagenet-c", "cifar10-c" or "tinyimagenet-c".
    corruption_preset: str = "auto"
    # Folder of a published -C set; None lets the loader search its default places.
    root: str | None = None
    # Evaluate on the first this many test images (and of each corruption cell); None: all.
    subset: int | None = None
    # Corruption severities to evaluate.
    severities: tuple[int, ...] = (1, 2, 3, 4, 5)
    # Restrict to these corruption names (None: the benchmark's 15 test corruptions).
    names: tuple[str, ...] | None = None
    # Also evaluate the 4 held-out corruptions (speckle noise, Gaussian blur, spatter,
    # saturate), reported apart from the 15 test corruptions.
    include_heldout: bool = False
    # Images per evaluation forward pass.
    batch_size: int = 500
    # Error/NLL/ECE on the clean test split every this many epochs (0: only at the end).
    every_epochs: int = 1


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run."""

    # Run folder: config.yaml, checkpoint.pt, log.jsonl/csv, metrics.json, run.json.
    out: str
    # Seed of model initialisation, data order, augmentation and mollification.
    seed: int = 0
    # Passes over the training set.
    epochs: int = 300
    # Stop after this many optimiser steps in total (None: train all epochs); the
    # learning-rate schedule spans the shorter of the two.
    max_steps: int | None = None
    # Images per optimiser step over all processes, counting each of the K likelihood
    # samples (likelihood.k) of an image: batch_size / k distinct images per step.
    batch_size: int = 128
    # "fp32", "bf16" (autocast; no loss scaling needed) or "fp16" (autocast with a
    # gradient scaler). bf16 autocast works on CUDA and on CPUs with bf16 support.
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    # Store activations channels-last (faster convolutions on recent GPUs and CPUs).
    channels_last: bool = False
    # Compile the model with torch.compile.
    compile: bool = False
    # torch.use_deterministic_algorithms(True) (and deterministic cuDNN): bitwise
    # reproducible runs at some speed cost.
    deterministic: bool = False
    # CPU threads for torch. None: OMP_NUM_THREADS when set, else the physical cores this
    # process may use (its CPU affinity) divided by the processes on the node; never
    # torch's own default, which counts every CPU of the machine and oversubscribes.
    threads: int | None = None
    # "auto" picks CUDA when available; under torchrun each process uses its local GPU.
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # Write checkpoint.pt every this many optimiser steps (0: only at epoch ends).
    checkpoint_every_steps: int = 500
    # Update the progress figures (and check the loss is finite) every this many steps.
    log_every: int = 20
    # Show progress within an epoch: a tqdm bar when stderr is a terminal, else (a log
    # file, CI) a plain line every few minutes (PROBMOLL_HEARTBEAT_S, default 300 s).
    # The line at each epoch's end and the final summary are printed either way.
    progress: bool = True
    # Also log to TensorBoard (RUN/tensorboard; needs the tensorboard package).
    tensorboard: bool = False
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    mollify: MollifyConfig = field(default_factory=MollifyConfig)
    likelihood: LikelihoodConfig = field(default_factory=LikelihoodConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    ema: EmaConfig = field(default_factory=EmaConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    wandb: WandbConfig = field(default_factory=WandbConfig)


def load_config(
    path: str | os.PathLike | None = None,
    overrides: Sequence[str] | Mapping[str, Any] = (),
    *,
    validate: bool = True,
) -> TrainConfig:
    """Read a YAML config file, apply ``key=value`` overrides and check the result.

    Parameters
    ----------
    path : path, optional
        YAML file; None starts from the defaults (then ``out`` must be overridden).
    overrides : sequence of str or mapping
        ``"dotted.key=value"`` strings (values parsed as YAML) or an already nested mapping.
    validate : bool, default True
        Also run :func:`validate_config` (registry names, divisibility, devices); the
        returned configuration is then known valid and :func:`ensure_valid` (the
        training engine) does not check it again.

    Raises
    ------
    ConfigError
        Naming the key for unknown keys, wrong types and impossible values.
    """
    data = read_yaml_mapping(path) if path is not None else {}
    if not isinstance(overrides, Mapping):
        overrides = parse_overrides(overrides)
    config = config_from_dict(TrainConfig, apply_overrides(data, overrides))
    if validate:
        validate_config(config)
    return config


def dump_config(config: TrainConfig) -> str:
    """The YAML text of ``config``; :func:`load_config` reads it back to an equal config."""
    header = "# Resolved probmoll training configuration: probmoll train --config <this file>\n"
    return header + dump_yaml(config)


# What `probmoll train --resume RUN KEY=VALUE` may change: how the run is evaluated and
# where it runs, never what it trains (eval.* does not touch the weights; device and
# threads may change the arithmetic of the steps left, not their definition).
RESUME_OVERRIDES = ("eval.*", "threads", "device", "progress")


def resume_may_change(key: str) -> bool:
    """Whether the dotted ``key`` is among :data:`RESUME_OVERRIDES`."""
    return key.split(".")[0] == "eval" or key in RESUME_OVERRIDES


def load_resume_config(run_dir: str | os.PathLike, overrides: Sequence[str] = ()) -> TrainConfig:
    """The configuration of the run in ``run_dir`` (its ``config.yaml``, with ``out`` =
    ``run_dir``, where the run is now), changed by ``overrides`` of
    :data:`RESUME_OVERRIDES` only: e.g. a run whose final evaluation failed is finished
    with ``eval.corruptions=...``, without training again.

    Raises
    ------
    ConfigError
        For an override of another key (listing those allowed) and as :func:`load_config`.
    """
    refused = [item for item in overrides if not resume_may_change(item.partition("=")[0].strip())]
    if refused:
        raise ConfigError(
            f"--resume continues a run as configured; it accepts overrides of "
            f"{', '.join(RESUME_OVERRIDES)} only (how the run is evaluated and where it "
            f"runs), got {refused}: to change anything else start a new run, e.g. probmoll "
            f"train --config {os.path.join(run_dir, 'config.yaml')} KEY=VALUE out=NEW_FOLDER"
        )
    config = load_config(
        os.path.join(run_dir, "config.yaml"), [*overrides, f"out={run_dir}"], validate=False
    )
    return validate_config(config, resume=True)


# ------------------------------------------------------------------------- validation
# The configurations that passed validate_config in this process, by identity. They are
# frozen, so they stay valid; held weakly, so a finished run's configuration is not kept
# alive. A copy -- dataclasses.replace, or a configuration pickled to another process
# (a sweep's submitit jobs) -- is another object and is checked again, there.
_VALIDATED: weakref.WeakValueDictionary[int, TrainConfig] = weakref.WeakValueDictionary()


def validate_config(
    config: TrainConfig, *, world_size: int = 1, resume: bool = False
) -> TrainConfig:
    """Reject configurations that cannot run, before any data is loaded or model built.

    Checks value ranges, that ``batch_size`` is divisible by ``likelihood.k`` (and by
    ``k * world_size`` under DDP), registry names (model, dataset, corruption benchmark),
    ``model.kwargs`` against the model factory's signature and ``data.options`` against
    the dataset loader's (names, annotated types, obvious bounds), that ``likelihood.k``
    > 1 has mollification to make its copies differ, that the requested device and
    precision exist, that ``model.init_from`` names existing weights (not with
    ``resume``: a resumed run restores its own checkpoint, whatever became of the
    weights it started from) and that the wandb package is there when
    ``wandb.enabled``. The sections' own checks (``likelihood``, ``mollify``,
    ``augment``) ran when they were built. Returns ``config``, now known valid to
    :func:`ensure_valid`. The checks that import the registries (and so torch) and the
    machine's come last, so that any other error is reported without importing torch.

    Raises
    ------
    ConfigError
        At the first check that fails, naming the key.
    """
    check(bool(config.out), "out must name the run folder, got an empty string")
    check(config.seed >= 0, f"seed must be >= 0, got {config.seed}")
    check(config.epochs >= 1, f"epochs must be >= 1, got {config.epochs}")
    check(
        config.max_steps is None or config.max_steps >= 1,
        f"max_steps must be >= 1 or null, got {config.max_steps}",
    )
    check(config.batch_size >= 1, f"batch_size must be >= 1, got {config.batch_size}")
    _check_batch_split(config, world_size)
    check(
        config.threads is None or config.threads >= 1,
        f"threads must be >= 1 or null, got {config.threads}",
    )
    check(
        config.checkpoint_every_steps >= 0,
        f"checkpoint_every_steps must be >= 0, got {config.checkpoint_every_steps}",
    )
    check(config.log_every >= 1, f"log_every must be >= 1, got {config.log_every}")

    check(
        config.data.subset is None or config.data.subset >= 1,
        f"data.subset must be >= 1 or null, got {config.data.subset}",
    )
    check(config.data.workers >= 0, f"data.workers must be >= 0, got {config.data.workers}")
    reserved = {"num_classes", "in_channels", "image_size"} & set(config.model.kwargs)
    check(
        not reserved,
        f"model.kwargs must not set {sorted(reserved)}: they come from the dataset",
    )

    check(config.optim.lr > 0, f"optim.lr must be > 0, got {config.optim.lr}")
    check(
        0 <= config.optim.momentum < 1,
        f"optim.momentum must be in [0, 1), got {config.optim.momentum}",
    )
    check(
        config.optim.weight_decay >= 0,
        f"optim.weight_decay must be >= 0, got {config.optim.weight_decay}",
    )
    check(
        not config.optim.nesterov or config.optim.momentum > 0,
        "optim.nesterov = true needs optim.momentum > 0",
    )
    check(
        config.schedule.warmup_epochs >= 0,
        f"schedule.warmup_epochs must be >= 0, got {config.schedule.warmup_epochs}",
    )
    check(
        0 <= config.schedule.min_lr <= config.optim.lr,
        f"schedule.min_lr must be in [0, optim.lr = {config.optim.lr}], "
        f"got {config.schedule.min_lr}",
    )
    check_likelihood_copies(config.likelihood, config.mollify)
    check_tempered_targets(config.likelihood, config.augment)
    decay = config.ema.decay
    check(decay is None or 0 < decay < 1, f"ema.decay must be in (0, 1) or null, got {decay}")

    evaluation = config.eval
    check(
        evaluation.subset is None or evaluation.subset >= 1,
        f"eval.subset must be >= 1 or null, got {evaluation.subset}",
    )
    check(evaluation.batch_size >= 1, f"eval.batch_size must be >= 1, got {evaluation.batch_size}")
    check(
        evaluation.every_epochs >= 0,
        f"eval.every_epochs must be >= 0, got {evaluation.every_epochs}",
    )
    check_corruption_preset(evaluation.corruption_preset, evaluation.corruptions)

    check(bool(config.wandb.project), "wandb.project must not be empty")

    _check_registered(config, resume=resume)
    check_machine(config.device, config.precision, config.tensorboard)
    check_wandb(config.wandb.enabled)
    _VALIDATED[id(config)] = config
    return config


def ensure_valid(config: TrainConfig, *, world_size: int = 1, resume: bool = False) -> TrainConfig:
    """``config``, checked by :func:`validate_config` unless that already happened.

    A configuration from :func:`load_config` (or one that went through
    :func:`validate_config` in this process) is not checked again; any other -- built in
    code, changed with :func:`dataclasses.replace`, or received from another process --
    is. Whether ``batch_size`` splits over ``world_size`` processes depends on the
    launch, not on the configuration, so that is checked every time.

    Raises
    ------
    ConfigError
        As :func:`validate_config`.
    """
    if _VALIDATED.get(id(config)) is not config:
        return validate_config(config, world_size=world_size, resume=resume)
    _check_batch_split(config, world_size)
    return config


def _check_registered(config: TrainConfig, *, resume: bool = False) -> None:
    """The checks against the registries (models, datasets, corruptions): they import
    them, and with them torch, so :func:`validate_config` runs them after the others."""
    from probmoll.data import list_datasets
    from probmoll.data.corruptions.names import check_severities
    from probmoll.models import list_models

    datasets = list_datasets()
    check(
        config.data.name in datasets,
        f"data.name = {config.data.name!r} is not a registered dataset; valid choices: "
        + ", ".join(datasets),
    )
    models = list_models()
    check(
        config.model.name in models,
        f"model.name = {config.model.name!r} is not a registered model; valid choices: "
        + ", ".join(models),
    )
    check_model_kwargs(config.model.name, config.model.kwargs)
    if config.model.init_from is not None and not resume:
        check_init_from(config.model.init_from)
    check_dataset_options(config.data.name, config.data.options)
    evaluation = config.eval
    try:
        check_severities(evaluation.severities, name="eval.severities")
    except ValueError as error:
        raise ConfigError(str(error)) from None
    check_corruptions(evaluation.corruptions, evaluation.names)


def _check_batch_split(config: TrainConfig, world_size: int) -> None:
    k = config.likelihood.k
    check(
        config.batch_size % (k * world_size) == 0,
        f"batch_size = {config.batch_size} is not divisible by likelihood.k = {k}"
        + (f" times the {world_size} processes" if world_size > 1 else "")
        + f": each step repeats batch_size / likelihood.k distinct images k times;"
        f" choose a batch_size that is a multiple of {k * world_size}",
    )
