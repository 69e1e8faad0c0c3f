"""Checks of training options against what is registered and what this machine offers.

:func:`probmoll.train.config.validate_config` calls these before any data is loaded or
model built, so that a misspelt model option or an unavailable GPU fails at once, with
a message naming the configuration key (``model.kwargs.width``, ``data.options.n``,
``eval.names``, ``device``, ...). Each takes plain values or the sections it relates, not
the whole configuration.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from probmoll.utils.config import ConfigError, coerce

if TYPE_CHECKING:
    from probmoll.augment.config import AugmentConfig
    from probmoll.likelihoods.config import LikelihoodConfig
    from probmoll.mollify.mollifier import MollifyConfig

__all__ = [
    "check",
    "check_corruption_preset",
    "check_corruptions",
    "check_dataset_options",
    "check_init_from",
    "check_likelihood_copies",
    "check_machine",
    "check_model_kwargs",
    "check_tempered_targets",
    "check_wandb",
]

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
# Arguments of every model factory that come from the dataset, never from model.kwargs.
_DATASET_GIVEN = ("num_classes", "in_channels", "image_size")


def check(condition: bool, message: str) -> None:
    """Raise :class:`~probmoll.utils.config.ConfigError` with ``message`` unless
    ``condition`` holds."""
    if not condition:
        raise ConfigError(message)


def _check_options(
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
        check(
            name in valid or any_name,
            f"{option} is not an option of {owner}; valid options: "
            + (", ".join(valid) if valid else "none (it takes no options)"),
        )
        if name in hints:
            value = coerce(value, hints[name], option)
        if isinstance(value, bool) or not isinstance(value, int):
            continue
        low = _OPTION_MINIMA.get(name)
        check(low is None or value >= low, f"{option} must be >= {low}, got {value}")
        choices = _OPTION_CHOICES.get(name)
        check(
            choices is None or value in choices,
            f"{option} = {value} is not one of the valid choices: "
            + ", ".join(map(str, choices or ())),
        )


def check_model_kwargs(name: str, kwargs: Mapping[str, Any]) -> None:
    """``model.kwargs`` bound to the factory's signature, as ``create_model`` will call it.

    Parameters
    ----------
    name : str
        A registered model name (``model.name``).
    kwargs : mapping
        ``model.kwargs``: names, annotated types and bounds are checked.

    Raises
    ------
    ConfigError
        Naming ``model.kwargs`` or ``model.kwargs.<option>``.
    """
    from probmoll.models import model_factory

    factory = model_factory(name)
    signature = inspect.signature(factory)
    valid = [
        option
        for option, parameter in signature.parameters.items()
        if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
        and option not in _DATASET_GIVEN
    ]
    takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    owner = f"model {name!r}"
    _check_options(factory, kwargs, valid, "model.kwargs", owner, any_name=takes_any)
    try:
        signature.bind(**dict.fromkeys(_DATASET_GIVEN), **kwargs)
    except TypeError as error:  # e.g. a factory parameter without a default
        raise ConfigError(f"model.kwargs do not fit {owner}: {error}") from None


def check_init_from(source: str) -> None:
    """``model.init_from`` names weights that exist: a file, a run folder holding a
    checkpoint, or a known torchvision weights name (checked without reading or
    downloading them; whether they fit the model is checked once it is built)."""
    from probmoll.models import check_weights_source

    try:
        check_weights_source(source)
    except (OSError, ValueError) as error:
        raise ConfigError(f"model.init_from = {source!r}: {error}") from None


def check_dataset_options(name: str, options: Mapping[str, Any]) -> None:
    """``data.options`` against the options of the loader of dataset ``name`` (what
    :func:`probmoll.data.load_dataset` accepts); errors name ``data.options.<option>``."""
    from probmoll.data.registry import dataset_loader, dataset_options

    valid = dataset_options(name)
    owner = f"dataset {name!r}"
    _check_options(dataset_loader(name), options, valid, "data.options", owner)


def check_corruptions(spec: str, names: Sequence[str] | None) -> None:
    """``eval.corruptions`` names a benchmark or a folder, and ``eval.names`` are
    corruptions (test or held out), at least one of them a benchmark corruption."""
    from probmoll.data.corruptions import PUBLISHED_SETS, list_corruptions

    sources = ["none", "generated", *PUBLISHED_SETS]
    check(
        spec in sources or Path(spec).is_dir(),
        f"eval.corruptions = {spec!r} is neither a corruption benchmark nor a folder; "
        f"valid choices: {', '.join(sources)} or the folder of a set",
    )
    valid = list_corruptions("all")
    unknown = [name for name in names or () if name not in valid]
    check(
        not unknown,
        f"eval.names: unknown corruption(s) {unknown}; valid choices: {', '.join(valid)}",
    )
    # The corrupted error is the mean over benchmark corruptions: held-out ones alone
    # would fail only once the final evaluation gets there.
    benchmark = list_corruptions("benchmark")
    check(
        names is None or any(name in benchmark for name in names),
        f"eval.names = {list(names or ())} holds no benchmark corruption, so there is no "
        f"benchmark mean to report; add one of: {', '.join(benchmark)}",
    )


def check_corruption_preset(preset: str, spec: str) -> None:
    """``eval.corruption_preset`` is a preset name, and not another preset than that of the
    published set ``eval.corruptions`` names (CIFAR-100-C is the cifar10-c preset).

    Imports no numpy or torch (:mod:`probmoll.data.corruptions.presets` is plain data).
    """
    from probmoll.data.corruptions.presets import PRESET_CHOICES, PUBLISHED_PRESETS

    check(
        preset in PRESET_CHOICES,
        f"eval.corruption_preset = {preset!r} is not a corruption preset; valid choices: "
        + ", ".join(PRESET_CHOICES),
    )
    published = PUBLISHED_PRESETS.get(spec)
    check(
        preset == "auto" or published is None or preset == published,
        f"eval.corruption_preset = {preset!r} but eval.corruptions = {spec!r} was made with "
        f"the {published!r} constants: the preset chooses those of a generated set; leave "
        "it at 'auto' or use eval.corruptions = generated",
    )


def check_machine(device: str, precision: str, tensorboard: bool) -> None:
    """What the run asks of this machine: ``device``'s CUDA, ``precision``'s bfloat16
    support on that GPU, and the tensorboard package when ``tensorboard`` is true."""
    import torch

    if device == "cuda":
        check(
            torch.cuda.is_available(),
            "device = 'cuda' but CUDA is not available here; valid choices: auto, cpu",
        )
    uses_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if precision == "bf16" and uses_cuda:
        check(
            torch.cuda.is_bf16_supported(),
            "precision = 'bf16' but this GPU does not support bfloat16; valid choices: fp32, fp16",
        )
    if tensorboard:
        try:
            import torch.utils.tensorboard  # noqa: F401
        except ImportError:
            raise ConfigError(
                "tensorboard = true needs the tensorboard package (pip install tensorboard)"
            ) from None


def check_wandb(enabled: bool) -> None:
    """The wandb package, when ``wandb.enabled`` asks for Weights & Biases logging."""
    if not enabled:
        return
    try:
        import wandb  # noqa: F401
    except ImportError:
        raise ConfigError(
            "wandb.enabled = true needs the wandb package (pip install wandb)"
        ) from None


def check_likelihood_copies(likelihood: LikelihoodConfig, mollify: MollifyConfig) -> None:
    """K > 1 copies only differ through mollification; otherwise every estimator collapses.

    This reads ``mollify.enabled`` to check the configuration; what a disabled
    mollification does is :func:`probmoll.mollify.create_mollifier`'s to decide.
    """
    k = likelihood.k
    if k == 1:
        return
    weights = mollify.weights or (1.0,) * len(mollify.roles)
    drawn = [role for role, weight in zip(mollify.roles, weights, strict=True) if weight > 0]
    why = None
    if not mollify.enabled:
        why = "mollify.enabled = false"
    elif drawn == ["clean"]:
        weighted = f" with mollify.weights = {list(mollify.weights)}" if mollify.weights else ""
        why = f"mollify.roles = {list(mollify.roles)}{weighted} (only clean images)"
    check(
        why is None,
        f"likelihood.k = {k} with {why}: the {k} copies of an image would be identical "
        "(augmentations are drawn once per image, before the copies are made; only "
        "mollification draws a role and temperature per copy), so every estimator reduces "
        f"to likelihood.k = 1 at {k} times the cost. Set likelihood.k=1 or enable "
        "mollification with a noise or blur role",
    )


def check_tempered_targets(likelihood: LikelihoodConfig, augment: AugmentConfig) -> None:
    """A tempered likelihood takes tempered targets (mass on one class); MixUp/CutMix
    spread the mass over two classes, which such a form refuses at the first step."""
    check(
        likelihood.label_form != "temper" or augment.mix == "none",
        f"likelihood.form = {likelihood.form!r} takes tempered targets (all mass on "
        f"one class), but augment.mix = {augment.mix!r} mixes two labels per image: "
        "set augment.mix=none or choose likelihood.form=smooth (or normalized)",
    )
