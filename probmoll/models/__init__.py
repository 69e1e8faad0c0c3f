"""Models: the registry (preact-ResNets, torchvision ResNet-50) and checkpoint files.

>>> from probmoll.models import create_model
>>> model = create_model("preact_resnet18_w16", num_classes=10, in_channels=3, image_size=32)
"""

from probmoll.models import preact_resnet, torchvision_models  # noqa: F401  (registration)
from probmoll.models.checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_NAME,
    data_info,
    load_checkpoint,
    model_from_checkpoint,
    resolve_checkpoint_path,
    save_checkpoint,
)
from probmoll.models.preact_resnet import PreActBasicBlock, PreActBottleneck, PreActResNet
from probmoll.models.registry import (
    MODELS,
    create_model,
    list_models,
    model_factory,
    register_model,
)

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_NAME",
    "MODELS",
    "PreActBasicBlock",
    "PreActBottleneck",
    "PreActResNet",
    "create_model",
    "data_info",
    "list_models",
    "load_checkpoint",
    "model_factory",
    "model_from_checkpoint",
    "register_model",
    "resolve_checkpoint_path",
    "save_checkpoint",
]
