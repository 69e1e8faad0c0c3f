"""docs/recipes/timm.md: `Mollify` after timm's Mixup in the `train_one_epoch` of timm's
`train.py`, with and without its prefetcher, for a few steps."""

import math
import warnings
from types import SimpleNamespace

import pytest
import torch
import torchvision

from probmoll import Mollify
from tests.recipes.helpers import check_recipe, seeded

with warnings.catch_warnings():
    # timm 1.0.9 (the release robustbench pins) declares a TorchScript interface at import
    # time, which recent torch reports as deprecated; nothing here uses TorchScript.
    warnings.filterwarnings(
        "ignore", r"`torch\.jit\.interface` is deprecated", category=FutureWarning
    )
    import timm
    from timm.data import FastCollateMixup, Mixup, create_loader
    from timm.loss import SoftTargetCrossEntropy


def test_the_page_shows_three_changed_lines_and_this_test_runs_them():
    check_recipe("timm.md", __file__)


def train_one_epoch(model, loader, optimizer, loss_fn, args, device, mixup_fn=None):
    # timm's train.py (1.0.9), without meters, AMP, accumulation and EMA.
    mollify = Mollify(num_classes=args.num_classes)
    model.train()
    seen = []
    for input, target in loader:
        if not args.prefetcher:
            input, target = input.to(device), target.to(device)
            if mixup_fn is not None:
                input, target = mixup_fn(input, target)
        input, target = mollify(input, target)
        if args.channels_last:
            input = input.contiguous(memory_format=torch.channels_last)
        output = model(input)
        loss = loss_fn(output, target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        assert math.isfinite(loss.item())
        seen.append((target, mollify.last.gamma))
    return seen


@pytest.mark.parametrize("prefetcher", [False, True])
def test_timm_recipe(prefetcher):
    args = SimpleNamespace(num_classes=10, prefetcher=prefetcher, channels_last=True)
    # timm's defaults: mixup and cutmix switched per batch, label smoothing 0.1.
    mixup_args = dict(
        mixup_alpha=0.8, cutmix_alpha=1.0, label_smoothing=0.1, num_classes=args.num_classes
    )
    dataset = torchvision.datasets.FakeData(size=24, image_size=(3, 32, 32), num_classes=10)
    device = torch.device("cpu")
    with seeded(0):
        loader = create_loader(
            dataset,
            input_size=(3, 32, 32),
            batch_size=8,
            is_training=True,
            num_workers=0,
            persistent_workers=False,
            # With the prefetcher, timm mixes uint8 images while collating and
            # normalises them in the prefetcher; without it, in the loop.
            collate_fn=FastCollateMixup(**mixup_args) if prefetcher else None,
            use_prefetcher=prefetcher,
            device=device,
        )
        mixup_fn = None if prefetcher else Mixup(**mixup_args)
        model = timm.create_model("resnet10t", num_classes=args.num_classes, pretrained=False)
        model = model.to(memory_format=torch.channels_last)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        seen = train_one_epoch(
            model, loader, optimizer, SoftTargetCrossEntropy(), args, device, mixup_fn
        )
    assert len(seen) == 3
    for target, gamma in seen:
        assert target.shape == (8, 10)
        torch.testing.assert_close(target.sum(1), torch.ones(8))
        # timm's smoothing leaves every class at least 0.1 / 10; mollification adds gamma / C.
        assert bool((target.min(1).values >= (1 - gamma) * 0.01 + gamma / 10 - 1e-6).all())
