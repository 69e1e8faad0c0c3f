"""Pre-activation ResNets (He et al., 2016, "Identity mappings in deep residual networks").

The CIFAR-style network the paper trains (Sec. 4): a 3x3 stem at full resolution, four
stages of widths ``w, 2w, 4w, 8w`` (``w = 64`` by default) with strides 1, 2, 2, 2, a final
BatchNorm-ReLU (the pre-activation design leaves the last block un-normalised) and global
average pooling. preact-ResNet-50 uses bottleneck blocks with expansion 4 and has
23.5M parameters for 10 classes (the paper quotes 23.7M; docs/paper-readings.md,
reading 8).

``image_size`` picks the stem: up to 32 pixels a stride-1 3x3 convolution (CIFAR, 32x32
Fashion-MNIST); for 64x64 inputs (TinyImageNet) the same stem followed by no pooling, so
the last stage runs at 8x8, as in the common TinyImageNet variants; from 96 pixels on an
ImageNet-style 7x7 stride-2 stem with max-pooling. Global average pooling makes every
variant accept any input size at least as large as its downsampling factor.

Initialisation: by default every layer keeps PyTorch's own initialisation (convolutions
and the linear layer ``kaiming_uniform_(a=sqrt(5))``, i.e. weights uniform in
``+-1/sqrt(fan_in)``; BatchNorm scale 1, shift 0), as the reference pre-activation
networks the paper trains do. ``init="kaiming_fan_out"`` draws convolution weights from
``N(0, 2 / fan_out)`` instead, the habit of post-activation ResNets (torchvision): its
weights have ``sqrt(6 * fan_in / fan_out)`` times the standard deviation (2.4x for a
convolution with as many input as output channels), which under the paper's small
learning rate (0.01) trains these networks markedly slower (``benchmarks/bench_init.py``
measures both against an independent reference network: 65.5% against 55.9% test error
after 3 epochs on CIFAR-10).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from probmoll.models.registry import register_model

__all__ = ["INITS", "PreActBasicBlock", "PreActBottleneck", "PreActResNet"]

#: Weight initialisations :class:`PreActResNet` accepts (module docstring).
INITS = ("default", "kaiming_fan_out")


class PreActBasicBlock(nn.Module):
    """Two 3x3 convolutions, each preceded by BatchNorm-ReLU."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.shortcut = _projection(in_planes, planes * self.expansion, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        # The projection shortcut sees the pre-activated input (He et al., 2016, Fig. 4e).
        shortcut = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + shortcut


class PreActBottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand (x4), each preceded by BatchNorm-ReLU."""

    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.shortcut = _projection(in_planes, planes * self.expansion, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        out = self.conv3(F.relu(self.bn3(out)))
        return out + shortcut


def _projection(in_planes: int, out_planes: int, stride: int) -> nn.Module | None:
    if stride == 1 and in_planes == out_planes:
        return None
    return nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)


class PreActResNet(nn.Module):
    """Pre-activation ResNet.

    Parameters
    ----------
    block : type
        :class:`PreActBasicBlock` or :class:`PreActBottleneck`.
    depths : sequence of 4 ints
        Blocks per stage, e.g. ``(2, 2, 2, 2)`` for ResNet-18.
    num_classes : int
        Output logits.
    in_channels : int, default 3
        Image channels.
    image_size : int, default 32
        Chooses the stem (see the module docstring).
    width : int, default 64
        Channels of the first stage; stages use ``width * (1, 2, 4, 8)``.
    init : {"default", "kaiming_fan_out"}, default "default"
        Weight initialisation (see the module docstring).
    """

    def __init__(
        self,
        block: type[PreActBasicBlock] | type[PreActBottleneck],
        depths: tuple[int, int, int, int],
        num_classes: int,
        in_channels: int = 3,
        image_size: int = 32,
        width: int = 64,
        init: str = "default",
    ):
        super().__init__()
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        if init not in INITS:
            raise ValueError(f"init must be one of {', '.join(INITS)}; got {init!r}")
        if image_size >= 96:
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(3, stride=2, padding=1),
            )
        else:
            self.stem = nn.Conv2d(in_channels, width, 3, stride=1, padding=1, bias=False)
        stages = []
        in_planes = width
        for index, depth in enumerate(depths):
            planes = width * 2**index
            stride = 1 if index == 0 else 2
            blocks = []
            for block_index in range(depth):
                blocks.append(block(in_planes, planes, stride if block_index == 0 else 1))
                in_planes = planes * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.final_bn = nn.BatchNorm2d(in_planes)
        self.fc = nn.Linear(in_planes, num_classes)
        self.num_features = in_planes
        if init == "kaiming_fan_out":
            for module in self.modules():
                if isinstance(module, nn.Conv2d):
                    nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features ``(B, num_features)``."""
        if x.ndim != 4:
            raise ValueError(f"expected images of shape (B, C, H, W), got {tuple(x.shape)}")
        out = self.stages(self.stem(x))
        out = F.relu(self.final_bn(out))
        return torch.flatten(F.adaptive_avg_pool2d(out, 1), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.forward_features(x))


_DEPTHS = {
    18: (PreActBasicBlock, (2, 2, 2, 2)),
    34: (PreActBasicBlock, (3, 4, 6, 3)),
    50: (PreActBottleneck, (3, 4, 6, 3)),
    101: (PreActBottleneck, (3, 4, 23, 3)),
}


def _register(depth: int, default_width: int, suffix: str = "") -> None:
    block, depths = _DEPTHS[depth]
    name = f"preact_resnet{depth}{suffix}"

    @register_model(name)
    def factory(
        num_classes: int,
        in_channels: int = 3,
        image_size: int = 32,
        width: int = default_width,
        init: str = "default",
    ) -> PreActResNet:
        return PreActResNet(
            block, depths, num_classes, in_channels, image_size, width=width, init=init
        )

    factory.__name__ = name
    factory.__doc__ = (
        f"preact-ResNet-{depth}, first-stage width {default_width} (options ``width``, ``init``)."
    )


for _depth in _DEPTHS:
    _register(_depth, 64)
    # Width-scaled variants for CPU work: same depth, 1/4 of the channels.
    _register(_depth, 16, "_w16")
