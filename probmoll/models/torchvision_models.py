"""torchvision's ImageNet ResNet-50, for the fine-tuning experiment of Appendix A.1."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from probmoll.models.registry import register_model
from probmoll.models.weights import download_torchvision_weights

__all__ = ["resnet50_imagenet"]


@register_model("resnet50_imagenet")
def resnet50_imagenet(
    num_classes: int = 1000,
    in_channels: int = 3,
    image_size: int = 224,
    weights: str | os.PathLike | None = None,
) -> nn.Module:
    """torchvision ResNet-50 (He et al., 2016), optionally with pretrained weights.

    Parameters
    ----------
    weights : str or path, optional
        ``None`` for random initialisation; a path to a local state-dict file (``.pth``)
        of ``torchvision.models.resnet50``; or a torchvision weights name such as
        ``"IMAGENET1K_V2"``, which torchvision downloads into its cache when there is
        internet (and fails with a clear message otherwise).
        With ``num_classes != 1000`` the classification layer is replaced after loading.
        (``model.init_from`` of a training run does the same for every model.)
    """
    from torchvision.models import resnet50

    if in_channels != 3:
        raise ValueError(f"resnet50_imagenet takes RGB images (in_channels=3), got {in_channels}")
    model = resnet50(weights=None)
    if weights is not None:
        path = Path(weights)
        if path.suffix in {".pth", ".pt"} or path.exists():
            if not path.is_file():
                raise FileNotFoundError(f"pretrained weights file {str(path)!r} does not exist")
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        else:
            from torchvision.models import ResNet50_Weights

            try:
                enum = ResNet50_Weights[str(weights)]
            except KeyError:
                valid = ", ".join(w.name for w in ResNet50_Weights)
                raise ValueError(
                    f"unknown ResNet-50 weights {weights!r}; valid: {valid} or a file path"
                ) from None
            model.load_state_dict(download_torchvision_weights(enum))
    if num_classes != model.fc.out_features:
        model.fc = nn.Linear(model.fc.in_features, num_classes)
    return model
