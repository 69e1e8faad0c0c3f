"""Typed training configuration: frozen dataclasses, YAML files, ``key=value`` overrides.

One :class:`TrainConfig` describes a whole run. It is read from a YAML file whose
sections mirror the dataclasses (``data``, ``model``, ``augment``, ``mollify``,
``likelihood``, ``optim``, ``schedule``, ``ema``, ``eval``), updated with dotted
``key=value`` overrides from the command line (values are parsed as YAML, so
``likelihood.k=4``, ``mollify.enabled=false`` and ``eval.severities=[1,5]`` all do what
they say), checked field by field against the type annotations, and validated as a
whole *before* any data is loaded. The resolved configuration is written to
``RUN/config.yaml``; ``probmoll train --config RUN/config.yaml`` repeats the run.

The sections ``augment``, ``mollify`` and ``likelihood`` are the configuration
dataclasses of :mod:`probmoll.augment`, :mod:`probmoll.mollify` and
:mod:`probmoll.likelihoods` themselves, so every option of those packages is reachable
from a config file without a second copy of their defaults here.

Defaults follow the paper's training recipe (Sec. 4; NOTES.md erratum 9): SGD with
momentum 0.9, weight decay 5e-4, initial learning rate 0.01 with cosine annealing,
mini-batches of 128, 300 epochs.

>>> config = load_config("experiments/configs/smoke.yaml", ["seed=3"])  # doctest: +SKIP
>>> config.seed
3
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import os
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from probmoll.augment import AugmentConfig
from probmoll.likelihoods import LikelihoodConfig
from probmoll.mollify import MollifyConfig

__all__ = [
    "ConfigError",
    "DataConfig",
    "EmaConfig",
    "EvalConfig",
    "ModelConfig",
    "OptimConfig",
    "ScheduleConfig",
    "TrainConfig",
    "apply_overrides",
    "config_from_dict",
    "config_to_dict",
    "dump_config",
    "load_config",
    "nest_dotted",
    "parse_overrides",
    "read_yaml_mapping",
    "validate_config",
]


class ConfigError(ValueError):
    """A configuration that cannot be run; the message names the offending key."""


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
    # CPU threads for torch (None: torch's default).
    threads: int | None = None
    # "auto" picks CUDA when available; under torchrun each process uses its local GPU.
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # Write checkpoint.pt every this many optimiser steps (0: only at epoch ends).
    checkpoint_every_steps: int = 500
    # Update the progress bar (and check the loss is finite) every this many steps.
    log_every: int = 20
    # Show a tqdm progress bar.
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


# ------------------------------------------------------------------- dict <-> dataclass
def _type_name(hint: Any) -> str:
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "")


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """``value`` checked against (and converted to) the annotation ``hint``."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None:
            if type(None) in args:
                return None
            raise ConfigError(f"{key} must not be null (expected {_type_name(hint)})")
        errors = []
        for option in args:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, key)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(
            f"{key} = {value!r} matches none of {_type_name(hint)}: " + "; ".join(errors)
        )
    if value is None:
        raise ConfigError(f"{key} must not be null (expected {_type_name(hint)})")
    if origin is Literal:
        if not any(value == choice and type(value) is type(choice) for choice in args):
            choices = ", ".join(repr(choice) for choice in args)
            raise ConfigError(f"{key} = {value!r} is not one of the valid choices: {choices}")
        return value
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        if isinstance(value, hint):
            return value
        try:
            return hint(value)
        except ValueError:
            choices = ", ".join(repr(member.value) for member in hint)
            raise ConfigError(
                f"{key} = {value!r} is not one of the valid choices: {choices}"
            ) from None
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        if isinstance(value, hint):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key} must be a mapping of {hint.__name__} keys, got {value!r}")
        return config_from_dict(hint, value, prefix=f"{key}.")
    if origin in (tuple, list, Sequence, typing.Sequence) or hint in (tuple, list):
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise ConfigError(f"{key} must be a list ({_type_name(hint)}), got {value!r}")
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise ConfigError(f"{key} must have {len(args)} entries, got {value!r}")
            items = [
                _coerce(v, a, f"{key}[{i}]")
                for i, (v, a) in enumerate(zip(value, args, strict=True))
            ]
        else:
            item_hint = args[0] if args else Any
            items = [_coerce(v, item_hint, f"{key}[{i}]") for i, v in enumerate(value)]
        return list(items) if origin is list or hint is list else tuple(items)
    if origin in (dict, Mapping, typing.Mapping) or hint in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key} must be a mapping, got {value!r}")
        return dict(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        if isinstance(value, str):
            # YAML 1.1 reads "5e-4" (no dot) as a string; accept it as the number it is.
            try:
                return float(value)
            except ValueError:
                raise ConfigError(f"{key} must be a number, got {value!r}") from None
        if not isinstance(value, (int, float)):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {value!r}")
        return value
    if isinstance(hint, type):
        if not isinstance(value, hint):
            raise ConfigError(f"{key} must be a {hint.__name__}, got {value!r}")
        return value
    return value


def config_from_dict(cls: type, data: Mapping[str, Any], *, prefix: str = "") -> Any:
    """Build the (frozen) dataclass ``cls`` from a nested mapping, checking every key.

    Unknown keys, values of the wrong type and missing required keys raise
    :class:`ConfigError` naming the dotted key (``prefix`` + field name). Errors raised
    by the dataclass's own checks (``__post_init__``) are re-raised naming the section.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'} must be a mapping, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [key for key in data if key not in fields]
    if unknown:
        raise ConfigError(
            f"unknown key {prefix}{unknown[0]!s}; valid keys"
            f"{' of ' + prefix.rstrip('.') if prefix else ''}: {', '.join(fields)}"
        )
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, spec in fields.items():
        key = f"{prefix}{name}"
        if name in data:
            kwargs[name] = _coerce(data[name], hints.get(name, Any), key)
        elif spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
            raise ConfigError(f"missing required key {key}")
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (ValueError, TypeError) as error:
        section = prefix.rstrip(".") or "config"
        raise ConfigError(f"{section}: {error}") from error


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def config_to_dict(config: Any) -> dict[str, Any]:
    """A nested dict of plain YAML/JSON values (enums as their values, tuples as lists)."""
    return _plain(config)


class _ConfigDumper(yaml.SafeDumper):
    """Block-style mappings, flow-style lists of scalars (``severities: [1, 2, 3]``)."""


def _represent_list(dumper: yaml.SafeDumper, values: list) -> yaml.Node:
    flow = all(not isinstance(value, (dict, list)) for value in values)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", values, flow_style=flow)


_ConfigDumper.add_representer(list, _represent_list)


def dump_config(config: TrainConfig) -> str:
    """The YAML text of ``config``; :func:`load_config` reads it back to an equal config."""
    header = "# Resolved probmoll training configuration: probmoll train --config <this file>\n"
    body = yaml.dump(
        config_to_dict(config), Dumper=_ConfigDumper, sort_keys=False, default_flow_style=False
    )
    return header + body


# -------------------------------------------------------------------------- overrides
def nest_dotted(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1, "c": 2}`` -> ``{"a": {"b": 1}, "c": 2}``."""
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        parts = str(key).split(".")
        if not all(parts):
            raise ConfigError(f"{key!r} is not a dotted key (e.g. likelihood.k)")
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override of {key!r} conflicts with an override of {part!r}")
        if isinstance(node.get(parts[-1]), dict) and isinstance(value, Mapping):
            node[parts[-1]] = apply_overrides(node[parts[-1]], value)
        else:
            node[parts[-1]] = value
    return nested


def parse_overrides(overrides: Sequence[str]) -> dict[str, Any]:
    """``["a.b=1", "c=[1, 2]"]`` -> ``{"a": {"b": 1}, "c": [1, 2]}`` (values parsed as YAML)."""
    flat: dict[str, Any] = {}
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise ConfigError(
                f"override {item!r} is not of the form dotted.key=value (e.g. likelihood.k=4)"
            )
        try:
            flat[key] = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError as error:
            raise ConfigError(f"override {item!r}: the value is not valid YAML ({error})") from None
    return nest_dotted(flat)


def apply_overrides(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``overrides`` into ``base`` (neither is modified).

    Mappings merge key by key (so ``model.kwargs.width=8`` keeps the other
    ``model.kwargs``); any other value replaces what was there.
    """
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = apply_overrides(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_yaml_mapping(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {error}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {str(path)!r} must hold a mapping, got {type(data).__name__}"
        )
    return data


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
        Also run :func:`validate_config` (registry names, divisibility, devices).

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


# ------------------------------------------------------------------------- validation
def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def validate_config(config: TrainConfig, *, world_size: int = 1) -> TrainConfig:
    """Reject configurations that cannot run, before any data is loaded or model built.

    Checks value ranges, that ``batch_size`` is divisible by ``likelihood.k`` (and by
    ``k * world_size`` under DDP), registry names (model, dataset, corruption benchmark),
    ``model.kwargs`` against the model factory's signature and ``data.options`` against
    the dataset loader's (names, annotated types, obvious bounds), that ``likelihood.k``
    > 1 has mollification to make its copies differ, and that the requested device and
    precision exist. Returns ``config``.
    """
    from probmoll.data import list_datasets
    from probmoll.models import list_models

    _check(bool(config.out), "out must name the run folder, got an empty string")
    _check(config.seed >= 0, f"seed must be >= 0, got {config.seed}")
    _check(config.epochs >= 1, f"epochs must be >= 1, got {config.epochs}")
    _check(
        config.max_steps is None or config.max_steps >= 1,
        f"max_steps must be >= 1 or null, got {config.max_steps}",
    )
    _check(config.batch_size >= 1, f"batch_size must be >= 1, got {config.batch_size}")
    k = config.likelihood.k
    _check(
        config.batch_size % (k * world_size) == 0,
        f"batch_size = {config.batch_size} is not divisible by likelihood.k = {k}"
        + (f" times the {world_size} processes" if world_size > 1 else "")
        + f": each step repeats batch_size / likelihood.k distinct images k times;"
        f" choose a batch_size that is a multiple of {k * world_size}",
    )
    _check(
        config.threads is None or config.threads >= 1,
        f"threads must be >= 1 or null, got {config.threads}",
    )
    _check(
        config.checkpoint_every_steps >= 0,
        f"checkpoint_every_steps must be >= 0, got {config.checkpoint_every_steps}",
    )
    _check(config.log_every >= 1, f"log_every must be >= 1, got {config.log_every}")

    datasets = list_datasets()
    _check(
        config.data.name in datasets,
        f"data.name = {config.data.name!r} is not a registered dataset; valid choices: "
        + ", ".join(datasets),
    )
    _check(
        config.data.subset is None or config.data.subset >= 1,
        f"data.subset must be >= 1 or null, got {config.data.subset}",
    )
    _check(config.data.workers >= 0, f"data.workers must be >= 0, got {config.data.workers}")
    models = list_models()
    _check(
        config.model.name in models,
        f"model.name = {config.model.name!r} is not a registered model; valid choices: "
        + ", ".join(models),
    )
    reserved = {"num_classes", "in_channels", "image_size"} & set(config.model.kwargs)
    _check(
        not reserved,
        f"model.kwargs must not set {sorted(reserved)}: they come from the dataset",
    )
    _validate_model_kwargs(config.model)
    _validate_data_options(config.data)

    _check(config.optim.lr > 0, f"optim.lr must be > 0, got {config.optim.lr}")
    _check(
        0 <= config.optim.momentum < 1,
        f"optim.momentum must be in [0, 1), got {config.optim.momentum}",
    )
    _check(
        config.optim.weight_decay >= 0,
        f"optim.weight_decay must be >= 0, got {config.optim.weight_decay}",
    )
    _check(
        not config.optim.nesterov or config.optim.momentum > 0,
        "optim.nesterov = true needs optim.momentum > 0",
    )
    _check(
        config.schedule.warmup_epochs >= 0,
        f"schedule.warmup_epochs must be >= 0, got {config.schedule.warmup_epochs}",
    )
    _check(
        0 <= config.schedule.min_lr <= config.optim.lr,
        f"schedule.min_lr must be in [0, optim.lr = {config.optim.lr}], "
        f"got {config.schedule.min_lr}",
    )
    _validate_likelihood_copies(config)
    decay = config.ema.decay
    _check(decay is None or 0 < decay < 1, f"ema.decay must be in (0, 1) or null, got {decay}")

    evaluation = config.eval
    _check(
        evaluation.subset is None or evaluation.subset >= 1,
        f"eval.subset must be >= 1 or null, got {evaluation.subset}",
    )
    _check(evaluation.batch_size >= 1, f"eval.batch_size must be >= 1, got {evaluation.batch_size}")
    _check(
        evaluation.every_epochs >= 0,
        f"eval.every_epochs must be >= 0, got {evaluation.every_epochs}",
    )
    bad = [s for s in evaluation.severities if not 1 <= s <= 5]
    _check(
        not bad and len(evaluation.severities) > 0,
        "eval.severities must be a non-empty list of levels 1..5, "
        f"got {list(evaluation.severities)}",
    )
    _validate_corruptions(evaluation)

    _validate_device(config)
    if config.tensorboard:
        try:
            import torch.utils.tensorboard  # noqa: F401
        except ImportError:
            raise ConfigError(
                "tensorboard = true needs the tensorboard package (pip install tensorboard)"
            ) from None
    return config


# Smallest values of the integer options of the registered models and datasets (the
# factories and loaders check them too, but only after the data is loaded): counts and
# sizes are positive, a classifier needs 2 classes, the models' stems need 8x8 images and
# Fashion-MNIST pads its 28x28 images, never crops them.
_OPTION_MINIMA = {
    "width": 1,
    "n": 1,
    "num_classes": 2,
    "size": 8,
    "resize": 8,
    "pad_to": 28,
    "seed": 0,
}
# Options with a fixed set of values (None, where a signature allows it, is checked there).
_OPTION_CHOICES = {"channels": (1, 3)}


def _validate_options(
    function: Callable[..., Any],
    values: Mapping[str, Any],
    valid: Sequence[str],
    key: str,
    owner: str,
    *,
    any_name: bool = False,
) -> None:
    """Check ``values`` against the keyword parameters ``valid`` of ``function``.

    Names must be among ``valid`` (unless ``any_name``: the function takes ``**kwargs``);
    values must match the parameter's annotation, where it has one, and the bounds of
    :data:`_OPTION_MINIMA`/:data:`_OPTION_CHOICES`. Errors name ``key.option``.
    """
    try:
        hints = typing.get_type_hints(function)
    except (NameError, TypeError):  # annotations that do not resolve: check names only
        hints = {}
    for name, value in values.items():
        option = f"{key}.{name}"
        _check(
            name in valid or any_name,
            f"{option} is not an option of {owner}; valid options: "
            + (", ".join(valid) if valid else "none (it takes no options)"),
        )
        if name in hints:
            value = _coerce(value, hints[name], option)
        if isinstance(value, bool) or not isinstance(value, int):
            continue
        low = _OPTION_MINIMA.get(name)
        _check(low is None or value >= low, f"{option} must be >= {low}, got {value}")
        choices = _OPTION_CHOICES.get(name)
        _check(
            choices is None or value in choices,
            f"{option} = {value} is not one of the valid choices: "
            + ", ".join(map(str, choices or ())),
        )


def _validate_model_kwargs(model: ModelConfig) -> None:
    """``model.kwargs`` bound to the factory's signature, as ``create_model`` will call it."""
    from probmoll.models import model_factory

    factory = model_factory(model.name)
    signature = inspect.signature(factory)
    dataset_given = ("num_classes", "in_channels", "image_size")
    valid = [
        name
        for name, parameter in signature.parameters.items()
        if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
        and name not in dataset_given
    ]
    takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    owner = f"model {model.name!r}"
    _validate_options(factory, model.kwargs, valid, "model.kwargs", owner, any_name=takes_any)
    try:
        signature.bind(**dict.fromkeys(dataset_given), **model.kwargs)
    except TypeError as error:  # e.g. a factory parameter without a default
        raise ConfigError(f"model.kwargs do not fit {owner}: {error}") from None


def _validate_data_options(data: DataConfig) -> None:
    """``data.options`` against the loader's options (what ``load_dataset`` accepts)."""
    from probmoll.data.registry import _get_loader, dataset_options

    valid = dataset_options(data.name)
    owner = f"dataset {data.name!r}"
    _validate_options(_get_loader(data.name), data.options, valid, "data.options", owner)


def _validate_likelihood_copies(config: TrainConfig) -> None:
    """K > 1 copies only differ through mollification; otherwise every estimator collapses."""
    k = config.likelihood.k
    if k == 1:
        return
    mollify = config.mollify
    weights = mollify.weights or (1.0,) * len(mollify.roles)
    drawn = [role for role, weight in zip(mollify.roles, weights, strict=True) if weight > 0]
    why = None
    if not mollify.enabled:
        why = "mollify.enabled = false"
    elif drawn == ["clean"]:
        weighted = f" with mollify.weights = {list(mollify.weights)}" if mollify.weights else ""
        why = f"mollify.roles = {list(mollify.roles)}{weighted} (only clean images)"
    _check(
        why is None,
        f"likelihood.k = {k} with {why}: the {k} copies of an image would be identical "
        "(augmentations are drawn once per image, before the copies are made; only "
        "mollification draws a role and temperature per copy), so every estimator reduces "
        f"to likelihood.k = 1 at {k} times the cost. Set likelihood.k=1 or enable "
        "mollification with a noise or blur role",
    )


def _validate_corruptions(evaluation: EvalConfig) -> None:
    from probmoll.data.corruptions import PUBLISHED_SETS, list_corruptions

    sources = ["none", "generated", *PUBLISHED_SETS]
    spec = evaluation.corruptions
    _check(
        spec in sources or Path(spec).is_dir(),
        f"eval.corruptions = {spec!r} is neither a corruption benchmark nor a folder; "
        f"valid choices: {', '.join(sources)} or the folder of a set",
    )
    valid = list_corruptions("all")
    unknown = [name for name in evaluation.names or () if name not in valid]
    _check(
        not unknown,
        f"eval.names: unknown corruption(s) {unknown}; valid choices: {', '.join(valid)}",
    )


def _validate_device(config: TrainConfig) -> None:
    import torch

    if config.device == "cuda":
        _check(
            torch.cuda.is_available(),
            "device = 'cuda' but CUDA is not available here; valid choices: auto, cpu",
        )
    uses_cuda = config.device == "cuda" or (config.device == "auto" and torch.cuda.is_available())
    if config.precision == "bf16" and uses_cuda:
        _check(
            torch.cuda.is_bf16_supported(),
            "precision = 'bf16' but this GPU does not support bfloat16; valid choices: fp32, fp16",
        )
