"""Starting a model from trained weights: a probmoll run, a state-dict file or torchvision's.

:func:`initialize_from` is what ``model.init_from`` of a training run does: it copies the
weights of a *source* into a freshly built model, where the source is

- a probmoll checkpoint or run folder (its ``model_state``, the weights it evaluates);
- a file holding a ``state_dict`` (``torch.save(model.state_dict(), path)``);
- a torchvision weights name, ``"<Enum>.<member>"`` as :func:`torchvision.models.get_weight`
  takes it (e.g. ``"ResNet50_Weights.IMAGENET1K_V2"``), downloaded into torch's cache
  (``$TORCH_HOME``) when it is not there yet.

Every parameter and buffer must fit, except the classification layer when the number of
classes differs (fine-tuning on another dataset): that layer keeps its fresh
initialisation. :func:`check_weights_source` checks a source without reading it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from probmoll.models.checkpoint import (
    _check_checkpoint,
    _read_torch_file,
    resolve_checkpoint_path,
)

__all__ = [
    "check_weights_source",
    "classifier_head",
    "download_torchvision_weights",
    "initialize_from",
    "load_weights",
]

_EXAMPLE = "ResNet50_Weights.IMAGENET1K_V2"


def _torchvision_name(source: str | os.PathLike) -> bool:
    text = str(source)
    return "_Weights." in text and os.sep not in text and not Path(text).exists()


def check_weights_source(source: str | os.PathLike) -> str:
    """What kind of weights ``source`` names, checked without reading or downloading them.

    Returns
    -------
    str
        ``"file"`` (a checkpoint or state-dict file, or a run folder holding
        ``checkpoint.pt``) or ``"torchvision"`` (a known torchvision weights name).

    Raises
    ------
    FileNotFoundError
        For a path that does not exist, or a run folder without a checkpoint.
    ValueError
        For an unknown torchvision weights name.
    """
    if _torchvision_name(source):
        _torchvision_weights(str(source))
        return "torchvision"
    path = Path(source).expanduser()
    if not path.exists():
        raise FileNotFoundError(
            f"{str(source)!r} is neither a file or run folder nor a torchvision weights name "
            f"such as {_EXAMPLE!r}"
        )
    resolve_checkpoint_path(path)
    return "file"


def _torchvision_weights(name: str) -> Any:
    from torchvision.models import get_weight

    try:
        return get_weight(name)
    except (KeyError, ValueError):
        raise ValueError(
            f"{name!r} is not a torchvision weights name; valid names are "
            f"'<Enum>.<member>' as torchvision.models.get_weight takes them, e.g. {_EXAMPLE!r}"
        ) from None


def download_torchvision_weights(weights: Any) -> dict[str, torch.Tensor]:
    """The state dict of torchvision weights (an enum member such as
    ``ResNet50_Weights.IMAGENET1K_V2``), from torch's cache or downloaded into it.

    Raises
    ------
    RuntimeError
        When it is not cached and cannot be downloaded, saying how to pass a local copy.
    """
    try:
        return weights.get_state_dict(progress=False)
    except Exception as error:  # urllib raises several types for a missing network
        raise RuntimeError(
            f"could not download torchvision weights {weights} ({error}). Without internet, "
            f"download {weights.url} elsewhere and pass the path of the file instead"
        ) from error


def load_weights(
    source: str | os.PathLike, map_location: str | torch.device = "cpu"
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read the weights ``source`` names (see the module's docstring).

    Returns
    -------
    state_dict : dict of str to torch.Tensor
        The weights.
    record : dict
        What was read, for the run's records: ``source`` (the resolved path or the
        name), ``kind`` (``"checkpoint"``, ``"state_dict"`` or ``"torchvision"``), and for
        a checkpoint its ``model`` name and training ``step``.
    """
    if check_weights_source(source) == "torchvision":
        weights = _torchvision_weights(str(source))
        record = {"source": str(source), "kind": "torchvision", "url": weights.url}
        return download_torchvision_weights(weights), record
    file = resolve_checkpoint_path(Path(source).expanduser())
    state = _read_torch_file(file, map_location, "weights file")
    if isinstance(state, dict) and "format" in state:
        _check_checkpoint(state, file)
        record = {
            "source": str(file.resolve()),
            "kind": "checkpoint",
            "model": state["model"]["name"],
            "step": state.get("step"),
        }
        return state["model_state"], record
    if not (
        isinstance(state, Mapping)
        and state
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items())
    ):
        raise ValueError(
            f"{str(file)!r} holds neither a probmoll checkpoint nor a state dict (a mapping "
            f"of parameter names to tensors, as torch.save(model.state_dict(), path) writes)"
        )
    return dict(state), {"source": str(file.resolve()), "kind": "state_dict"}


def classifier_head(model: nn.Module) -> str | None:
    """The name of ``model``'s classification layer: its last ``nn.Linear`` (None without)."""
    names = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    return names[-1] if names else None


def initialize_from(
    model: nn.Module, source: str | os.PathLike, map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Copy the weights of ``source`` into ``model`` (in place).

    Every parameter and buffer of ``model`` must be in the source with the same shape,
    and the source may hold nothing else -- except that a classification layer
    (:func:`classifier_head`) for another number of classes keeps ``model``'s own,
    fresh, initialisation.

    Parameters
    ----------
    model : nn.Module
        A freshly built model.
    source : path or str
        A checkpoint, run folder, state-dict file or torchvision weights name.
    map_location : str or torch.device, default "cpu"
        Where the source's tensors are read to.

    Returns
    -------
    dict
        :func:`load_weights`'s record plus ``reinitialized``: the names of the tensors left
        at their fresh initialisation (``[]`` when everything was copied) and, then,
        ``source_classes``.

    Raises
    ------
    ValueError
        When the weights do not fit (naming the missing, unexpected and mismatched
        tensors), and as :func:`load_weights`.
    """
    state, record = load_weights(source, map_location)
    own = model.state_dict()
    missing = [key for key in own if key not in state]
    unexpected = [key for key in state if key not in own]
    mismatched = [key for key in own if key in state and own[key].shape != state[key].shape]
    head = classifier_head(model)
    reinitialized: list[str] = []
    if head is not None and mismatched:
        layer = model.get_submodule(head)
        head_keys = {f"{head}.weight", f"{head}.bias"}
        weight = state.get(f"{head}.weight")
        if (
            set(mismatched) <= head_keys
            and weight is not None
            and weight.ndim == 2
            and weight.shape[1] == layer.in_features
            and all(state[key].shape[0] == weight.shape[0] for key in head_keys & set(state))
        ):
            reinitialized = sorted(head_keys & set(own))
            record["source_classes"] = int(weight.shape[0])
            mismatched = []
    if missing or unexpected or mismatched:

        def listed(keys: list[str]) -> str:
            return ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")

        problems = []
        if missing:
            problems.append(f"missing {listed(missing)}")
        if unexpected:
            problems.append(f"unexpected {listed(unexpected)}")
        if mismatched:
            shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in mismatched]
            problems.append(f"shapes differ for {listed(shapes)}")
        built_from = f" (a {record['model']!r})" if "model" in record else ""
        raise ValueError(
            f"the weights of {record['source']!r}{built_from} do not fit the model "
            f"{type(model).__name__}: {'; '.join(problems)}. Only a classification layer for "
            "another number of classes may differ: start from weights of the same architecture"
        )
    own.update({key: value for key, value in state.items() if key not in reinitialized})
    model.load_state_dict(own)
    record["reinitialized"] = reinitialized
    return record
