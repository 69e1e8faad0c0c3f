"""docs/recipes/torchvision.md: `Mollify` after torchvision's MixUp/CutMix in the
`collate_fn` of the classification reference script, for a few steps."""

import math

import torch
import torchvision
from torch import nn
from torch.utils.data import DataLoader, RandomSampler, default_collate
from torchvision.transforms import v2

from probmoll import Mollify
from tests.recipes.helpers import check_recipe, seeded

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def get_mixup_cutmix(*, mixup_alpha, cutmix_alpha, num_classes, use_v2):
    # The reference's helper (references/classification/transforms.py), v2 transforms only.
    assert use_v2
    return v2.RandomChoice(
        [
            v2.MixUp(alpha=mixup_alpha, num_classes=num_classes),
            v2.CutMix(alpha=cutmix_alpha, num_classes=num_classes),
        ]
    )


def test_the_page_shows_three_changed_lines_and_this_test_runs_them():
    check_recipe("torchvision.md", __file__)


def test_torchvision_reference_recipe():
    # The reference's v2 training preset ends with ToDtype(scale=True) and Normalize.
    preset = v2.Compose(
        [
            v2.PILToTensor(),
            v2.RandomHorizontalFlip(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean=MEAN, std=STD),
        ]
    )
    dataset = torchvision.datasets.FakeData(
        size=32, image_size=(3, 16, 16), num_classes=10, transform=preset
    )
    with seeded(0):
        num_classes = 10
        mixup_cutmix = get_mixup_cutmix(
            mixup_alpha=0.2, cutmix_alpha=1.0, num_classes=num_classes, use_v2=True
        )
        mollify = Mollify(num_classes=num_classes)
        if mixup_cutmix is not None:

            def collate_fn(batch):
                return mollify(*mixup_cutmix(*default_collate(batch)))

        data_loader = DataLoader(
            dataset,
            batch_size=8,
            sampler=RandomSampler(dataset),
            num_workers=1,
            collate_fn=collate_fn,
        )
        model = torchvision.models.get_model("resnet18", weights=None, num_classes=num_classes)
        criterion = nn.CrossEntropyLoss(label_smoothing=0.0)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        before = [p.detach().clone() for p in model.parameters()]

        model.train()
        for image, target in data_loader:  # train_one_epoch, without the meters
            assert image.shape == (8, 3, 16, 16) and target.shape == (8, num_classes)
            torch.testing.assert_close(target.sum(1), torch.ones(8))
            output = model(image)
            loss = criterion(output, target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            assert math.isfinite(loss.item())

    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    # The draws were made in the worker process; this one never called the transform.
    assert mollify.last is None
