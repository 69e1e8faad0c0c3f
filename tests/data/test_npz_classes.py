"""The classes of an ``npz`` dataset come from its class lists, a declared count or the
labels of every split -- never from one split's largest label -- and damaged files are
named."""

import numpy as np
import pytest

from probmoll.data import load_dataset, load_npz
from probmoll.data.dataset import read_npz


def write(folder, labels_by_split, classes_by_split=None):
    folder.mkdir(parents=True, exist_ok=True)
    for split, labels in labels_by_split.items():
        arrays = {"images": np.zeros((len(labels), 4, 4, 3), np.uint8), "labels": labels}
        if classes_by_split and split in classes_by_split:
            arrays["classes"] = np.asarray(classes_by_split[split])
        np.savez(folder / f"{split}.npz", **arrays)
    return folder


def test_classes_are_the_union_of_every_splits_labels(tmp_path):
    root = write(tmp_path / "d", {"train": [0, 1, 2], "test": [0, 4]})
    train = load_dataset("npz", "train", root=root)
    test = load_dataset("npz", "test", root=root)
    assert train.classes == test.classes == ("0", "1", "2", "3", "4")


def test_declared_class_count(tmp_path):
    root = write(tmp_path / "d", {"train": [0, 1], "test": [0, 1]})
    assert load_dataset("npz", "test", root=root, num_classes=6).num_classes == 6
    root = write(tmp_path / "e", {"train": [0, 1], "test": [0, 6]})
    with pytest.raises(ValueError, match=r"test\.npz' has label 6, outside the 3 classes"):
        load_dataset("npz", "train", root=root, num_classes=3)


def test_class_list_of_one_file_holds_for_every_split(tmp_path):
    names = ["cat", "dog", "eel"]
    root = write(tmp_path / "d", {"train": [0, 1], "test": [2, 0]}, {"train": names})
    assert load_dataset("npz", "test", root=root).classes == tuple(names)
    root = write(tmp_path / "e", {"train": [0, 1], "test": [3]}, {"train": names})
    with pytest.raises(ValueError, match=r"test\.npz' has label 3.*'classes' array of .*train"):
        load_dataset("npz", "train", root=root)
    root = write(tmp_path / "f", {"train": [0], "test": [0]}, {"train": names, "test": names[:2]})
    with pytest.raises(ValueError, match="list different classes"):
        load_dataset("npz", "test", root=root)
    with pytest.raises(ValueError, match="num_classes = 4 but .* lists 3 classes"):
        load_dataset("npz", "test", root=tmp_path / "d", num_classes=4)


def test_single_file_takes_its_own_labels_or_the_declared_count(tmp_path):
    np.savez(tmp_path / "one.npz", images=np.zeros((2, 4, 4, 3), np.uint8), labels=[0, 2])
    assert load_npz(tmp_path / "one.npz").num_classes == 3
    assert load_dataset("npz", "test", root=tmp_path / "one.npz", num_classes=5).num_classes == 5
    with pytest.raises(ValueError, match="label 2, outside the 2 classes"):
        load_npz(tmp_path / "one.npz", num_classes=2)


def test_damaged_files_are_named(tmp_path):
    root = write(tmp_path / "d", {"train": [0, 1], "test": [0, 1]})
    path = root / "train.npz"
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match=r"train\.npz' is not a readable \.npz file: it is trunc"):
        load_dataset("npz", "test", root=root)
    damaged = bytearray(raw)
    damaged[len(damaged) // 3] ^= 0xFF  # inside the images' bytes: the index still reads
    path.write_bytes(bytes(damaged))
    with pytest.raises(ValueError, match=r"train\.npz' is truncated or damaged: its 'images'"):
        load_npz(path)
    np.save(tmp_path / "bare.npy", np.zeros(3))
    (tmp_path / "bare.npy").rename(tmp_path / "bare.npz")
    with pytest.raises(ValueError, match="holds a single array"):
        read_npz(tmp_path / "bare.npz", ["labels"])


def test_missing_root_says_what_was_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist; expected a .npz file or a folder"):
        load_dataset("npz", "train", root=tmp_path / "nothing")
