"""Inputs of the training tests that check a run before and after training: user ``.npz``
datasets and corruption sets written by hand (holds no tests itself)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from probmoll.data import load_dataset
from tests.helpers import TINY, probmoll

# The tiny run of tests.helpers without its dataset, so that a test can choose another.
BASE = [option for option in TINY if not option.startswith("data.")]
SYNTHETIC = ["data.name=synthetic", "data.options={n: 256, num_classes: 4}"]
# TINY's test split: the first eval.subset = 64 synthetic test images.
TEST_IMAGES = 64


def train(run_dir: Path, *overrides: str, data: Sequence[str] = SYNTHETIC):
    """``probmoll train`` of the tiny run into ``run_dir`` (a real process)."""
    return probmoll(
        "train", *BASE, *data, f"data.cache_dir={run_dir.parent / 'cache'}", f"out={run_dir}",
        *overrides,
    )  # fmt: skip


def synthetic_test_split():
    return load_dataset("synthetic", "test", n=256, num_classes=4).subset(TEST_IMAGES)


def write_cifar_c(
    folder: Path,
    *,
    corruptions: Sequence[str] = ("gaussian_noise",),
    severities: Sequence[int] = (1, 2, 3, 4, 5),
    labels: np.ndarray | None = None,
    size: int = 32,
) -> Path:
    """A corruption set in the CIFAR-10-C layout made of the tiny run's test images.

    Severities other than 1-5 are listed in ``manifest.json``, as a generated set does.
    """
    folder.mkdir(parents=True)
    test = synthetic_test_split()
    images = test.images if size == 32 else np.zeros((len(test), size, size, 3), np.uint8)
    labels = test.labels if labels is None else labels
    blocks = len(severities)
    np.save(folder / "labels.npy", np.tile(labels, blocks))
    for name in corruptions:
        np.save(folder / f"{name}.npy", np.concatenate([images] * blocks))
    if tuple(severities) != (1, 2, 3, 4, 5):
        (folder / "manifest.json").write_text(json.dumps({"severities": list(severities)}))
    return folder


def write_npz_folder(
    folder: Path,
    train_labels: Sequence[int],
    test_labels: Sequence[int],
    *,
    classes: Sequence[str] | None = None,
) -> Path:
    """A folder of ``train.npz`` and ``test.npz`` (random 32x32 RGB images); ``classes``
    goes into ``train.npz`` only."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, labels in (("train", train_labels), ("test", test_labels)):
        arrays = {
            "images": rng.integers(0, 256, (len(labels), 32, 32, 3), dtype=np.uint8),
            "labels": np.asarray(labels),
        }
        if classes is not None and split == "train":
            arrays["classes"] = np.asarray(classes)
        np.savez(folder / f"{split}.npz", **arrays)
    return folder
