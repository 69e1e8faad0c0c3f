"""Shared pieces of the evaluation tests: a tiny BatchNorm classifier and random splits."""

import numpy as np
import torch
from torch import nn

MEAN = (0.4, 0.5, 0.6)
STD = (0.2, 0.25, 0.3)
NUM_CLASSES = 4


class SmallNet(nn.Module):
    """A real (tiny) convolutional classifier with BatchNorm, so that train and eval differ."""

    def __init__(self, num_classes: int = NUM_CLASSES, in_channels: int = 3):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU()
        )
        self.head = nn.Linear(8, num_classes)

    def forward(self, x):
        return self.head(self.features(x).mean(dim=(2, 3)))


class Split:
    """A clean split following the DatasetSplit contract (images uint8 NHWC, int64 labels)."""

    def __init__(self, images, labels, name="fixture"):
        self.images, self.labels, self.name = images, labels, name


def make_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = SmallNet()
    # Give BatchNorm non-trivial running statistics, as after training.
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(32, 3, 8, 8) * 2 + 1)
    return model


def make_split(n: int = 96, seed: int = 0, size: int = 8) -> Split:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)
    labels = rng.integers(0, NUM_CLASSES, size=n).astype(np.int64)
    return Split(images, labels)


def reference_logits(model: nn.Module, split: Split) -> torch.Tensor:
    """Standardise with numpy, run the model in eval mode on the whole split at once."""
    x = (split.images.astype(np.float64) / 255.0 - np.array(MEAN)) / np.array(STD)
    inputs = torch.from_numpy(x.transpose(0, 3, 1, 2)).float()
    model.eval()
    with torch.no_grad():
        return model(inputs)


def save_untrained_run(
    folder, *, n: int, seed: int, model: str = "preact_resnet18_w16", confident: bool = False
):
    """Write ``folder/checkpoint.pt``: an untrained ``model`` of 4 classes whose dataset is
    ``n`` synthetic test images (the checkpoint's data options); returns that test split.

    ``confident``: BatchNorm statistics of random images and a classification layer scaled
    up, so that the predictions, unlike an untrained model's near-uniform ones, change
    from image to image."""
    from probmoll.data import load_dataset
    from probmoll.models import create_model, data_info, save_checkpoint

    options = {"num_classes": 4, "n": n}
    test = load_dataset("synthetic", "test", **options)
    kwargs = {"num_classes": 4, "in_channels": 3, "image_size": 32}
    info = data_info("synthetic", mean=test.mean, std=test.std, classes=test.classes, **kwargs)
    info["options"] = options
    torch.manual_seed(seed)
    network = create_model(model, **kwargs)
    if confident:
        with torch.no_grad():
            network.train()(torch.randn(32, 3, 32, 32))
            network.fc.weight.mul_(30)
    save_checkpoint(
        folder / "checkpoint.pt",
        model=network,
        model_name=model,
        model_kwargs=kwargs,
        data=info,
    )
    return test
