"""Models: the registry (preact-ResNets, torchvision ResNet-50), checkpoint files, trained
models as modules that take images in [0, 1] (:func:`load_model`) and trained weights to
start from (:func:`initialize_from`).

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
from probmoll.models.loading import StandardizedModel, load_model
from probmoll.models.preact_resnet import PreActBasicBlock, PreActBottleneck, PreActResNet
from probmoll.models.registry import (
    MODELS,
    create_model,
    list_models,
    model_factory,
    register_model,
)
from probmoll.models.weights import (
    check_weights_source,
    classifier_head,
    initialize_from,
    load_weights,
)

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_NAME",
    "MODELS",
    "PreActBasicBlock",
    "PreActBottleneck",
    "PreActResNet",
    "StandardizedModel",
    "check_weights_source",
    "classifier_head",
    "create_model",
    "data_info",
    "initialize_from",
    "list_models",
    "load_checkpoint",
    "load_model",
    "load_weights",
    "model_factory",
    "model_from_checkpoint",
    "register_model",
    "resolve_checkpoint_path",
    "save_checkpoint",
]
