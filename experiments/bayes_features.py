"""The feature sets of the Bayesian study (``experiments/bayes_study.py``) for one network.

From a finished run folder: its training images (the run's own subset), clean and as K
mollified copies with their soft targets (the run's mollifier settings, switched on for a
network trained without mollification); the first test images, clean and under every
benchmark corruption and severity of the set the run was evaluated on (generated at the
run's corruption preset, cached). The network runs in the precision it trained in.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

__all__ = ["compute_features"]


def compute_features(
    run_dir: Path,
    *,
    copies: int,
    mollify_seed: int,
    test_images: int,
    severities: list[int],
) -> dict[str, Any]:
    """Features of the network in ``run_dir`` (see the module); float32 tensors on the CPU."""
    from probmoll import Mollify
    from probmoll.bayes import extract_features, mollified_features
    from probmoll.data import load_dataset
    from probmoll.data.corruptions import BENCHMARK_CORRUPTIONS, open_corruptions
    from probmoll.models import load_model
    from probmoll.train.config import load_config

    config = load_config(run_dir / "config.yaml", {"out": str(run_dir)}, validate=False)
    options = dict(
        root=config.data.root,
        cache_dir=config.data.cache_dir,
        download=config.data.download,
        **config.data.options,
    )
    train = load_dataset(config.data.name, "train", **options)
    if config.data.subset is not None and config.data.subset < len(train):
        train = train.subset(config.data.subset, seed=config.data.subset_seed)
    test = load_dataset(config.data.name, "test", **options)
    corrupted = open_corruptions(
        config.eval.corruptions,
        dataset=test,
        root=config.eval.root,
        cache_dir=config.data.cache_dir,
        include_heldout=False,
        severities=list(severities),
        progress=False,
        preset=config.eval.corruption_preset,
    )
    model = load_model(run_dir)
    num_classes = len(train.classes)
    mollify = Mollify.from_config(dataclasses.replace(config.mollify, enabled=True), num_classes)
    generator = torch.Generator().manual_seed(mollify_seed)
    first = slice(0, min(test_images, len(test)))
    sets = {"train": train.images, "test": test.images[first]}
    cells = [
        (name, level)
        for name in BENCHMARK_CORRUPTIONS
        if name in corrupted.corruptions
        for level in severities
    ]
    for name, level in cells:
        images, labels = corrupted.load(name, level)
        if not (labels[first] == test.labels[first]).all():
            raise ValueError(f"{name} at severity {level}: labels differ from the test split")
        sets[f"{name}-{level}"] = images[first]
    autocast = torch.bfloat16 if config.precision == "bf16" else None
    found = extract_features(model, sets, batch_size=500, autocast=autocast)
    rows, targets = mollified_features(
        model,
        train.images,
        train.labels,
        mollify,
        copies=copies,
        generator=generator,
        batch_size=500,
        autocast=autocast,
    )
    return {
        "num_classes": num_classes,
        "corruption_preset": getattr(corrupted, "preset", None),
        "train": found.pop("train"),
        "train_labels": torch.as_tensor(train.labels).long(),
        "test": found.pop("test"),
        "test_labels": torch.as_tensor(test.labels[first]).long(),
        "corrupted": found,
        "mollified": rows,
        "mollified_targets": targets,
    }
