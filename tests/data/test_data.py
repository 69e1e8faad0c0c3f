"""Datasets: DatasetSplit contract, registry, loaders on generated fixtures, cache."""

from __future__ import annotations

import gzip
import json
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from probmoll.data import (
    DatasetSplit,
    channel_stats,
    dataset_options,
    list_datasets,
    load_dataset,
    load_npz,
    register_dataset,
)
from probmoll.data import fashion_mnist as fmnist_module
from probmoll.data.fashion_mnist import read_idx
from probmoll.data.files import interleave_classes


def make_split(n=6, size=4, channels=3, classes=3, seed=0, **overrides):
    rng = np.random.default_rng(seed)
    fields = {
        "name": "toy",
        "split": "train",
        "images": rng.integers(0, 256, (n, size, size, channels), dtype=np.uint8),
        "labels": np.arange(n, dtype=np.int64) % classes,
        "classes": tuple(f"c{k}" for k in range(classes)),
        "mean": (0.5,) * channels,
        "std": (0.25,) * channels,
    }
    if "class_names" in overrides:
        fields["classes"] = overrides.pop("class_names")
    fields.update(overrides)
    return DatasetSplit(**fields)


# ----------------------------------------------------------------- DatasetSplit
def test_split_properties_and_repr():
    split = make_split(n=6, size=5, channels=1, classes=3)
    assert len(split) == 6 and split.num_classes == 3
    assert split.image_size == (5, 5) and split.in_channels == 1
    assert split.folder_ids == split.classes
    assert "n=6" in repr(split)


@pytest.mark.parametrize(
    "overrides, error, match",
    [
        ({"images": np.zeros((2, 4, 4, 3), dtype=np.float32)}, TypeError, "uint8"),
        ({"images": np.zeros((2, 4, 4), dtype=np.uint8)}, ValueError, r"\(N, H, W, C\)"),
        ({"images": np.zeros((2, 4, 4, 2), dtype=np.uint8)}, ValueError, "C in"),
        ({"images": [[0]]}, TypeError, "numpy.ndarray"),
        ({"labels": np.zeros(6, dtype=np.int32)}, TypeError, "int64"),
        ({"labels": np.zeros(5, dtype=np.int64)}, ValueError, r"shape \(6,\)"),
        ({"labels": np.full(6, 3, dtype=np.int64)}, ValueError, r"\[0, 3\)"),
        ({"labels": np.full(6, -1, dtype=np.int64)}, ValueError, r"\[0, 3\)"),
        ({"class_names": ()}, ValueError, "classes must not be empty"),
        ({"mean": (0.5,)}, ValueError, "one entry per channel"),
        ({"std": (0.2, 0.0, 0.2)}, ValueError, "positive"),
        ({"class_ids": ("a",)}, ValueError, "class_ids"),
    ],
)
def test_split_validation(overrides, error, match):
    with pytest.raises(error, match=match):
        make_split(**overrides)


def test_split_is_frozen():
    split = make_split()
    with pytest.raises(AttributeError):
        split.name = "other"


def test_to_tensor_layout_and_readonly_memmap(tmp_path):
    split = make_split(n=4, size=3, channels=3)
    np.save(tmp_path / "x.npy", split.images)
    mapped = make_split(n=4, size=3, channels=3, images=np.load(tmp_path / "x.npy", mmap_mode="r"))
    images, labels = mapped.to_tensor()
    assert images.dtype == torch.uint8 and images.shape == (4, 3, 3, 3) and images.is_contiguous()
    assert labels.dtype == torch.int64
    np.testing.assert_array_equal(images.numpy(), split.images.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(labels.numpy(), split.labels)


def test_subset_variants():
    split = make_split(n=10, classes=5)
    first = split.subset(4)
    np.testing.assert_array_equal(first.images, split.images[:4])
    np.testing.assert_array_equal(first.labels, split.labels[:4])
    picked = split.subset([7, 2])
    np.testing.assert_array_equal(picked.labels, split.labels[[7, 2]])
    drawn = split.subset(5, seed=3)
    again = split.subset(5, seed=3)
    np.testing.assert_array_equal(drawn.images, again.images)
    assert len(np.unique(drawn.labels.tolist() + [0])) >= 1 and len(drawn) == 5
    for bad, error in [
        (11, ValueError),
        (-1, ValueError),
        ([10], ValueError),
        ([0.5], TypeError),
        (True, TypeError),
    ]:
        with pytest.raises(error):
            split.subset(bad)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 5),
    channels=st.sampled_from([1, 3]),
    seed=st.integers(0, 2**16),
    chunk=st.integers(1, 4),
)
def test_channel_stats_match_float_computation(n, channels, seed, chunk):
    images = np.random.default_rng(seed).integers(0, 256, (n, 3, 2, channels), dtype=np.uint8)
    mean, std = channel_stats(images, chunk=chunk)
    pixels = images.reshape(-1, channels).astype(np.float64) / 255
    np.testing.assert_allclose(mean, pixels.mean(axis=0), rtol=1e-12, atol=1e-12)
    expected_std = np.where(pixels.std(axis=0) > 0, pixels.std(axis=0), 1.0)  # constant -> 1
    np.testing.assert_allclose(std, expected_std, rtol=1e-9, atol=1e-9)


def test_channel_stats_of_a_constant_channel_is_finite():
    images = np.zeros((2, 3, 3, 3), dtype=np.uint8)
    images[..., 1] = np.arange(9, dtype=np.uint8).reshape(3, 3)
    mean, std = channel_stats(images)
    assert mean[0] == 0 and std[0] == 1.0 and std[2] == 1.0
    assert std[1] == pytest.approx(np.arange(9).std() / 255)


# --------------------------------------------------------------------- registry
def test_registry_lists_builtin_datasets():
    expected = {
        "cifar10",
        "cifar100",
        "tinyimagenet",
        "fashion-mnist",
        "folder",
        "imagenet",
        "synthetic",
        "npz",
    }
    assert expected <= set(list_datasets())
    assert list_datasets() == sorted(list_datasets())


def test_registry_errors_list_valid_choices():
    with pytest.raises(ValueError, match="registered datasets: .*synthetic"):
        load_dataset("mnist-of-the-future")
    with pytest.raises(
        TypeError, match=r"unknown option\(s\) \['bogus'\].*valid options: .*num_classes"
    ):
        load_dataset("synthetic", "test", bogus=1)
    with pytest.raises(ValueError, match=r"no split 'validation'.*\['train', 'test'\]"):
        load_dataset("synthetic", "validation")
    assert dataset_options("fashion-mnist") == ["pad_to"]


def test_register_custom_dataset_and_duplicate_name():
    @register_dataset("toy-for-tests")
    def load_toy(split, *, root=None, cache_dir=None, download=False, n: int = 3):
        return make_split(n=n, split=split)

    assert "toy-for-tests" in list_datasets()
    assert len(load_dataset("toy-for-tests", "test", n=4)) == 4
    with pytest.raises(ValueError, match="already registered"):
        register_dataset("toy-for-tests")(
            lambda split, *, root=None, cache_dir=None, download=False: None
        )
    with pytest.raises(TypeError, match="must accept"):
        register_dataset("toy-bad-signature")(lambda split: None)


# ------------------------------------------------------------------- fixtures
def write_cifar(root: Path, name: str, per_batch: int = 3) -> dict[str, np.ndarray]:
    """The official python-pickle layout with tiny batches; returns the expected arrays."""
    rng = np.random.default_rng(1)
    spec = {
        "cifar10": (
            "cifar-10-batches-py",
            [f"data_batch_{i}" for i in range(1, 6)],
            ["test_batch"],
            "batches.meta",
            "label_names",
            "labels",
            10,
        ),
        "cifar100": (
            "cifar-100-python",
            ["train"],
            ["test"],
            "meta",
            "fine_label_names",
            "fine_labels",
            100,
        ),
    }[name]
    folder, train_files, test_files, meta, names_key, labels_key, classes = spec
    (root / folder).mkdir(parents=True)
    expected = {}
    for split, files in (("train", train_files), ("test", test_files)):
        images, labels = [], []
        for file in files:
            hwc = rng.integers(0, 256, (per_batch, 32, 32, 3), dtype=np.uint8)
            batch_labels = rng.integers(0, classes, per_batch).tolist()
            rows = hwc.transpose(0, 3, 1, 2).reshape(per_batch, -1)  # official: R plane, G, B
            with open(root / folder / file, "wb") as handle:
                pickle.dump({"data": rows, labels_key: batch_labels}, handle)
            images.append(hwc)
            labels += batch_labels
        expected[split] = (np.concatenate(images), np.asarray(labels))
    with open(root / folder / meta, "wb") as handle:
        pickle.dump({names_key: [f"class{k}" for k in range(classes)]}, handle)
    return expected


def idx_bytes(array: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}i", *array.shape
    )
    return header + array.astype(np.uint8).tobytes()


def write_fashion_mnist(folder: Path, n_train=5, n_test=3, compress=True) -> dict[str, tuple]:
    rng = np.random.default_rng(2)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        images = rng.integers(1, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            data = idx_bytes(array)
            name = f"{prefix}-{kind}-ubyte"
            if compress:
                (folder / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (folder / name).write_bytes(data)
        out[split] = (images, labels)
    return out


def write_png_folder(
    root: Path, layout: dict[str, dict[str, int]], size=(6, 5), mode="RGB", seed=3
):
    """root/<split>/<class>/<k>.png with random pixels; returns {split: [(path, array)]}."""
    rng = np.random.default_rng(seed)
    written = {}
    for split, classes in layout.items():
        for cls, count in classes.items():
            (root / split / cls).mkdir(parents=True, exist_ok=True)
            for k in range(count):
                shape = (*size, 3) if mode == "RGB" else size
                array = rng.integers(0, 256, shape, dtype=np.uint8)
                Image.fromarray(array, mode=mode).save(root / split / cls / f"{k:03d}.png")
                written.setdefault(split, []).append((cls, array))
    return written


def zip_folder(folder: Path, archive: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(archive, "w") as handle:
        for path in sorted(folder.rglob("*")):
            handle.write(path, prefix + path.relative_to(folder).as_posix())
    return archive


def write_tiny_imagenet(root: Path, wnids=("n02", "n01", "n03"), per_class=2, seed=4):
    rng = np.random.default_rng(seed)
    base = root / "tiny-imagenet-200"
    (base / "val" / "images").mkdir(parents=True)
    (base / "wnids.txt").write_text("\n".join(wnids) + "\n")
    (base / "words.txt").write_text(
        "".join(f"{w}\tname of {w}, synonym\n" for w in wnids) + "n99\tunused\n"
    )
    for w in wnids:
        (base / "train" / w / "images").mkdir(parents=True)
        (base / "train" / w / f"{w}_boxes.txt").write_text("")
        for k in range(per_class):
            array = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
            Image.fromarray(array).save(base / "train" / w / "images" / f"{w}_{k}.JPEG", quality=95)
    annotations = []
    for k, w in enumerate(["n03", "n01", "n02", "n01"]):
        Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8), mode="L").save(
            base / "val" / "images" / f"val_{k}.JPEG"
        )
        annotations.append(f"val_{k}.JPEG\t{w}\t0\t0\t7\t7")
    (base / "val" / "val_annotations.txt").write_text("\n".join(annotations) + "\n")
    return base


# Every registered dataset must have a fixture here: a new loader gets tested by default.
def fixture_for(name: str, tmp_path: Path) -> dict:
    if name in ("cifar10", "cifar100"):
        write_cifar(tmp_path / "raw", name)
        return {"root": tmp_path / "raw"}
    if name == "fashion-mnist":
        write_fashion_mnist(tmp_path / "raw")
        return {"root": tmp_path / "raw"}
    if name == "folder":
        write_png_folder(tmp_path / "raw", {"train": {"a": 2, "b": 1}, "test": {"a": 1, "b": 2}})
        return {"root": tmp_path / "raw"}
    if name == "tinyimagenet":
        write_tiny_imagenet(tmp_path / "raw")
        return {"root": tmp_path / "raw"}
    if name == "imagenet":
        write_png_folder(
            tmp_path / "raw",
            {"train": {"n1": 1, "n2": 1}, "val": {"n1": 1, "n2": 1}},
            size=(12, 10),
        )
        for path in (tmp_path / "raw").rglob("*.png"):
            path.rename(path.with_suffix(".JPEG"))
        return {"root": tmp_path / "raw", "size": 8}
    if name == "npz":
        np.savez(
            tmp_path / "d.npz", images=np.zeros((2, 4, 4, 3), np.uint8), labels=np.array([0, 1])
        )
        return {"root": tmp_path / "d.npz"}
    if name == "synthetic":
        return {"n": 8}
    raise AssertionError(f"no test fixture for registered dataset {name!r}")


@pytest.mark.parametrize("name", [n for n in list_datasets() if not n.startswith("toy")])
def test_every_registered_dataset_loads_from_a_fixture(name, tmp_path):
    kwargs = fixture_for(name, tmp_path)
    data = load_dataset(name, "test", cache_dir=tmp_path / "cache", **kwargs)
    assert isinstance(data, DatasetSplit) and len(data) > 0
    assert data.images.dtype == np.uint8 and data.labels.dtype == np.int64
    assert len(data.mean) == data.in_channels == len(data.std)


# ------------------------------------------------------------------------ CIFAR
@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_pickles_decode_to_hwc(name, tmp_path):
    expected = write_cifar(tmp_path / "raw", name)
    cache = tmp_path / "cache"
    for split in ("train", "test"):
        data = load_dataset(name, split, root=tmp_path / "raw", cache_dir=cache)
        np.testing.assert_array_equal(data.images, expected[split][0])
        np.testing.assert_array_equal(data.labels, expected[split][1])
        assert data.classes[:2] == ("class0", "class1")
        assert isinstance(data.images, np.memmap)
    train_pixels = expected["train"][0].reshape(-1, 3) / 255
    np.testing.assert_allclose(
        data.mean, train_pixels.mean(axis=0), rtol=1e-10
    )  # test uses train stats
    np.testing.assert_allclose(data.std, train_pixels.std(axis=0), rtol=1e-8)


def test_cifar_missing_names_folder_and_download_option(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"cifar-10-batches-py.*download=True"):
        load_dataset("cifar10", root=tmp_path)


# ----------------------------------------------------------------- Fashion-MNIST
@pytest.mark.parametrize("layout", ["flat-gz", "torchvision-raw"])
def test_fashion_mnist_idx_parsing_and_padding(layout, tmp_path):
    folder = tmp_path / "raw" if layout == "flat-gz" else tmp_path / "raw" / "FashionMNIST" / "raw"
    expected = write_fashion_mnist(folder, compress=layout == "flat-gz")
    data = load_dataset(
        "fashion-mnist", "test", root=tmp_path / "raw", cache_dir=tmp_path / "cache"
    )
    raw_images, raw_labels = expected["test"]
    assert data.images.shape == (3, 32, 32, 1) and data.in_channels == 1
    np.testing.assert_array_equal(data.images[:, 2:30, 2:30, 0], raw_images)
    border = np.ones((32, 32), bool)
    border[2:30, 2:30] = False
    assert (data.images[:, border, 0] == 0).all()
    np.testing.assert_array_equal(data.labels, raw_labels)
    assert data.classes[0] == "T-shirt/top" and data.num_classes == 10
    unpadded = load_dataset(
        "fashion-mnist", "train", root=tmp_path / "raw", cache_dir=tmp_path / "c2", pad_to=None
    )
    np.testing.assert_array_equal(unpadded.images[..., 0], expected["train"][0])
    np.testing.assert_allclose(unpadded.mean, [expected["train"][0].mean() / 255], rtol=1e-12)
    # Padding with zeros lowers the mean by the padded fraction of pixels.
    np.testing.assert_allclose(data.mean[0], unpadded.mean[0] * 28 * 28 / (32 * 32), rtol=1e-12)


@pytest.mark.parametrize(
    "payload, match",
    [
        (b"\x00\x00\x08\x01" + struct.pack(">i", 5) + b"\x01\x02", "truncated or corrupted"),
        (b"\x08\x03\x00\x00rest", "not an IDX file"),
        (b"\x1f\x8bnot gzip at all", "corrupted gzip"),
        (b"\x00\x00\x08\x03\x00", "truncated inside its header"),
    ],
)
def test_read_idx_rejects_bad_files(payload, match, tmp_path):
    path = tmp_path / "bad-idx"
    path.write_bytes(payload)
    with pytest.raises(ValueError, match=match):
        read_idx(path)


def test_read_idx_round_trip(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a.gz").write_bytes(gzip.compress(idx_bytes(array)))
    np.testing.assert_array_equal(read_idx(tmp_path / "a.gz"), array)


def test_fashion_mnist_missing_and_bad_pad(tmp_path, monkeypatch):
    monkeypatch.setenv("PROBMOLL_DATA", str(tmp_path / "nothing"))
    monkeypatch.setattr(fmnist_module, "SYSTEM_FASHION_MNIST", tmp_path / "no-system-copy")
    with pytest.raises(
        FileNotFoundError, match="apt-get install dataset-fashion-mnist.*download=True"
    ):
        load_dataset("fashion-mnist", "test")
    with pytest.raises(ValueError, match="pad_to must be an int >= 28"):
        load_dataset("fashion-mnist", "test", pad_to=20)


@pytest.mark.skipif(
    not (fmnist_module.SYSTEM_FASHION_MNIST / "t10k-images-idx3-ubyte.gz").is_file(),
    reason="Debian's dataset-fashion-mnist is not installed",
)
def test_fashion_mnist_system_copy(tmp_path, monkeypatch):
    monkeypatch.setenv("PROBMOLL_DATA", str(tmp_path / "empty"))
    data = load_dataset("fashion-mnist", "test", cache_dir=tmp_path / "cache")
    assert data.images.shape == (10000, 32, 32, 1)
    assert np.bincount(data.labels).tolist() == [1000] * 10


# --------------------------------------------------------------- folder + zip
def test_folder_and_zip_give_the_same_arrays(tmp_path):
    layout = {"train": {"cat": 2, "ant": 3}, "test": {"ant": 1, "bee": 2}}
    written = write_png_folder(tmp_path / "imgs", layout)
    from_dir = load_dataset("folder", "test", root=tmp_path / "imgs", cache_dir=tmp_path / "c1")
    assert from_dir.classes == ("ant", "bee", "cat")  # union over splits, sorted
    assert from_dir.labels.tolist() == [0, 1, 1]
    order = sorted(written["test"], key=lambda item: item[0])
    np.testing.assert_array_equal(from_dir.images, np.stack([a for _c, a in order]))
    train = load_dataset("folder", "train", root=tmp_path / "imgs", cache_dir=tmp_path / "c1")
    assert from_dir.mean == train.mean  # statistics of the train split
    assert train.labels.tolist() == [0, 2, 0, 2, 0]  # classes interleaved: balanced prefixes
    archive = zip_folder(tmp_path / "imgs", tmp_path / "imgs.zip", prefix="wrapped/")
    from_zip = load_dataset("folder", "test", root=archive, cache_dir=tmp_path / "c2")
    np.testing.assert_array_equal(from_zip.images, from_dir.images)
    assert from_zip.name == "imgs" and from_zip.classes == from_dir.classes
    # The folder's display name is an option called `name`, next to the dataset's name.
    named = load_dataset("folder", "test", root=archive, cache_dir=tmp_path / "c2", name="bugs")
    assert named.name == "bugs"


def test_folder_sizes_channels_and_errors(tmp_path):
    write_png_folder(tmp_path / "gray", {"train": {"a": 2}}, mode="L")
    gray = load_dataset("folder", "train", root=tmp_path / "gray", cache_dir=tmp_path / "c")
    assert gray.in_channels == 1
    rgb = load_dataset(
        "folder", "train", root=tmp_path / "gray", cache_dir=tmp_path / "c", channels=3
    )
    assert rgb.in_channels == 3 and (rgb.images[..., 0] == gray.images[..., 0]).all()

    write_png_folder(tmp_path / "mixed", {"train": {"a": 1}}, size=(6, 5))
    write_png_folder(tmp_path / "mixed", {"train": {"b": 1}}, size=(7, 7), seed=9)
    with pytest.raises(ValueError, match=r"same size; pass resize=\(H, W\)"):
        load_dataset("folder", "train", root=tmp_path / "mixed", cache_dir=tmp_path / "c")
    resized = load_dataset(
        "folder", "train", root=tmp_path / "mixed", cache_dir=tmp_path / "c", resize=4
    )
    assert resized.images.shape == (2, 4, 4, 3)
    with pytest.raises(ValueError, match=r"no split 'test'.*\['train'\]"):
        load_dataset("folder", "test", root=tmp_path / "mixed", cache_dir=tmp_path / "c")
    with pytest.raises(ValueError, match="needs root="):
        load_dataset("folder", "train")
    with pytest.raises(FileNotFoundError, match="no such directory"):
        load_dataset("folder", "train", root=tmp_path / "absent")


def test_cache_is_reused_and_invalidated(tmp_path):
    write_png_folder(tmp_path / "imgs", {"train": {"a": 2}})
    cache = tmp_path / "cache"
    first = load_dataset("folder", "train", root=tmp_path / "imgs", cache_dir=cache)
    sidecars = list(cache.rglob("train.json"))
    assert len(sidecars) == 1 and not list(cache.rglob("*.tmp"))
    stamp = sidecars[0].stat().st_mtime_ns
    again = load_dataset("folder", "train", root=tmp_path / "imgs", cache_dir=cache)
    assert sidecars[0].stat().st_mtime_ns == stamp  # read back, not decoded again
    np.testing.assert_array_equal(first.images, again.images)
    write_png_folder(tmp_path / "imgs", {"train": {"b": 1}}, seed=5)  # the source changed
    changed = load_dataset("folder", "train", root=tmp_path / "imgs", cache_dir=cache)
    assert len(changed) == 3 and len(list(cache.rglob("train.json"))) == 2


def test_cache_dir_from_environment(tmp_path, monkeypatch):
    write_png_folder(tmp_path / "imgs", {"train": {"a": 1}})
    monkeypatch.setenv("PROBMOLL_CACHE", str(tmp_path / "env-cache"))
    load_dataset("folder", "train", root=tmp_path / "imgs")
    assert list((tmp_path / "env-cache" / "datasets" / "folder").rglob("train-images.npy"))


def test_interleaved_datasets_say_so_in_their_cache_key(tmp_path):
    # The order is part of the key, not of the cache format: other datasets keep their
    # entries (format 1), and entries decoded in class-folder order are not read back.
    write_png_folder(tmp_path / "imgs", {"train": {"cat": 2, "ant": 1}})
    base = write_tiny_imagenet(tmp_path / "raw")
    load_dataset("folder", "train", root=tmp_path / "imgs", cache_dir=tmp_path / "cache")
    load_dataset("tinyimagenet", "train", root=base, cache_dir=tmp_path / "cache")
    keys = {
        sidecar.parent.parent.name: json.loads(sidecar.read_text())["key"]
        for sidecar in (tmp_path / "cache" / "datasets").rglob("train.json")
    }
    assert set(keys) == {"folder", "tinyimagenet"}
    for key in keys.values():
        assert key["order"] == "interleaved" and key["format"] == 1


# ---------------------------------------------------------- Tiny-ImageNet / ImageNet
@pytest.mark.parametrize("packed", [False, True])
def test_tinyimagenet_layout(packed, tmp_path):
    base = write_tiny_imagenet(tmp_path / "raw")
    root = (
        zip_folder(base, tmp_path / "tiny.zip", prefix="tiny-imagenet-200/")
        if packed
        else tmp_path / "raw"
    )
    test = load_dataset("tinyimagenet", "test", root=root, cache_dir=tmp_path / "cache")
    assert test.class_ids == ("n01", "n02", "n03")  # sorted wnids
    assert test.classes == ("name of n01", "name of n02", "name of n03")
    assert test.labels.tolist() == [2, 0, 1, 0]  # val_annotations order
    assert test.images.shape == (4, 8, 8, 3)  # grayscale JPEGs converted to RGB
    train = load_dataset("tinyimagenet", "train", root=root, cache_dir=tmp_path / "cache")
    assert train.labels.tolist() == [0, 1, 2, 0, 1, 2]  # classes interleaved
    assert test.mean == train.mean


@pytest.mark.parametrize("packed", [False, True])
def test_tinyimagenet_val_image_listed_but_missing_is_named(packed, tmp_path):
    base = write_tiny_imagenet(tmp_path / "raw")
    (base / "val" / "images" / "val_2.JPEG").unlink()
    root = (
        zip_folder(base, tmp_path / "tiny.zip", prefix="tiny-imagenet-200/")
        if packed
        else tmp_path / "raw"
    )
    with pytest.raises(
        FileNotFoundError,
        match=r"val_annotations\.txt' line 3 lists 'val_2\.JPEG', but .*val/images/val_2\.JPEG' "
        "does not exist",
    ):
        load_dataset("tinyimagenet", "test", root=root, cache_dir=tmp_path / "cache")


def test_missing_or_broken_archive_members_get_clear_errors(tmp_path):
    from probmoll.data.files import FileTree

    archive = tmp_path / "set.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as handle:
        handle.writestr("top/a.txt", b"intact payload " * 4)
    tree = FileTree(archive)
    assert tree.read_bytes("top/a.txt") == b"intact payload " * 4
    with pytest.raises(
        FileNotFoundError, match=r"the archive '.*set\.zip' has no member 'top/b\.txt'"
    ):
        tree.read_bytes("top/b.txt")
    with pytest.raises(FileNotFoundError, match="has no member 'top/b.txt'"):
        tree.descend_into_single_folder(["x"]).read_bytes("b.txt")  # the prefix is named too
    # A flipped byte in the stored member fails its CRC check.
    data = archive.read_bytes()
    at = data.index(b"intact")
    archive.write_bytes(data[:at] + b"X" + data[at + 1 :])
    with pytest.raises(ValueError, match=r"cannot read member 'top/a\.txt' of the archive"):
        FileTree(archive).read_bytes("top/a.txt")
    with pytest.raises(FileNotFoundError):
        FileTree(tmp_path).read_bytes("absent.png")


def test_tinyimagenet_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="tiny-imagenet-200.zip"):
        load_dataset("tinyimagenet", "train", root=tmp_path)


def test_imagenet_resize_and_center_crop(tmp_path):
    rng = np.random.default_rng(6)
    arrays = {}
    for split, wnid, shape in (
        ("train", "n2", (30, 20)),
        ("train", "n1", (20, 40)),
        ("val", "n1", (16, 16)),
    ):
        (tmp_path / "in" / split / wnid).mkdir(parents=True)
        arrays[(split, wnid)] = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
        Image.fromarray(arrays[(split, wnid)]).save(tmp_path / "in" / split / wnid / "a.png")
        (tmp_path / "in" / split / wnid / "a.png").rename(tmp_path / "in" / split / wnid / "a.JPEG")
    data = load_dataset(
        "imagenet", "train", root=tmp_path / "in", cache_dir=tmp_path / "c", size=8, resize=10
    )
    assert data.images.shape == (2, 8, 8, 3) and data.labels.tolist() == [0, 1]
    assert data.class_ids == ("n1", "n2") and data.mean == (0.485, 0.456, 0.406)
    # n1's 20x40 image: shorter side 20 -> 10, so 10x20, then the central 8x8.
    reference = np.asarray(
        Image.fromarray(arrays[("train", "n1")]).resize((20, 10), Image.Resampling.BILINEAR)
    )
    np.testing.assert_array_equal(data.images[0], reference[1:9, 6:14])
    test = load_dataset("imagenet", "test", root=tmp_path / "in", cache_dir=tmp_path / "c", size=8)
    assert test.images.shape == (1, 8, 8, 3)
    sidecars = list((tmp_path / "c" / "datasets" / "imagenet").rglob("*.json"))
    assert sidecars and all(
        json.loads(p.read_text())["key"]["order"] == "interleaved" for p in sidecars
    )
    with pytest.raises(ValueError, match="smaller than size"):
        load_dataset("imagenet", "train", root=tmp_path / "in", size=8, resize=4)


# --------------------------------------------------------------------- synthetic
def test_synthetic_is_deterministic_and_prefix_stable():
    a = load_dataset("synthetic", "train", n=600, seed=1)
    b = load_dataset("synthetic", "train", n=600, seed=1)
    np.testing.assert_array_equal(a.images, b.images)
    short = load_dataset("synthetic", "train", n=300, seed=1)
    np.testing.assert_array_equal(short.images, a.images[:300])
    np.testing.assert_array_equal(short.labels, a.labels[:300])
    assert short.mean == a.mean  # statistics do not depend on n
    other_seed = load_dataset("synthetic", "train", n=600, seed=2)
    test = load_dataset("synthetic", "test", n=600, seed=1)
    assert not np.array_equal(other_seed.images, a.images) and not np.array_equal(
        test.images, a.images
    )
    assert np.bincount(a.labels[:256]).tolist() == [26] * 6 + [25] * 4  # balanced per block


@pytest.mark.parametrize(
    "options", [{"channels": 1, "size": 16, "num_classes": 4}, {"channels": 3, "size": 40}]
)
def test_synthetic_options(options):
    data = load_dataset("synthetic", "test", n=20, **options)
    size = options["size"]
    assert data.images.shape == (20, size, size, options["channels"])
    assert data.num_classes == options.get("num_classes", 10)
    with pytest.raises(ValueError, match="num_classes must be an int >= 2"):
        load_dataset("synthetic", "test", num_classes=1)


def test_synthetic_is_learnable_by_a_tiny_cnn():
    torch.manual_seed(0)
    train = load_dataset("synthetic", "train", n=1024)
    test = load_dataset("synthetic", "test", n=512)
    mean = torch.tensor(train.mean).view(1, 3, 1, 1)
    std = torch.tensor(train.std).view(1, 3, 1, 1)

    def prepare(split):
        images, labels = split.to_tensor()
        return (images.float() / 255 - mean) / std, labels

    x, y = prepare(train)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 5, padding=2),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(32, 10),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(150):
        batch = torch.randint(0, len(y), (64,), generator=generator)
        loss = torch.nn.functional.cross_entropy(model(x[batch]), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    x_test, y_test = prepare(test)
    with torch.no_grad():
        accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
    assert accuracy > 0.5, accuracy  # chance is 0.1


# ------------------------------------------------------------------------- npz
def test_load_npz_and_npz_dataset(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (4, 5, 5), dtype=np.uint8)
    np.savez(tmp_path / "data.npz", images=images, labels=np.array([0, 1, 2, 1], dtype=np.int32))
    split = load_npz(tmp_path / "data.npz")
    assert split.images.shape == (4, 5, 5, 1) and split.classes == ("0", "1", "2")
    assert split.labels.dtype == np.int64 and split.name == "data"
    np.testing.assert_allclose(split.mean, [images.mean() / 255])
    folder = tmp_path / "sets"
    folder.mkdir()
    np.savez(
        folder / "train.npz",
        images=np.full((2, 4, 4, 3), 255, np.uint8),
        labels=[0, 1],
        mean=[0.1, 0.2, 0.3],
        std=[1.0, 1.0, 1.0],
    )
    np.savez(folder / "test.npz", images=np.zeros((3, 4, 4, 3), np.uint8), labels=[1, 0, 1])
    test = load_dataset("npz", "test", root=folder)
    assert test.mean == (0.1, 0.2, 0.3) and len(test) == 3


@pytest.mark.parametrize(
    "arrays, error, match",
    [
        (
            {"pictures": np.zeros((1, 4, 4, 3), np.uint8), "labels": [0]},
            ValueError,
            r"lacks key\(s\) \['images'\]",
        ),
        ({"images": np.zeros((1, 4, 4, 3), np.float32), "labels": [0]}, TypeError, "dtype uint8"),
        (
            {"images": np.zeros((1, 4, 4, 2), np.uint8), "labels": [0]},
            ValueError,
            r"\(N, H, W, C\)",
        ),
        (
            {"images": np.zeros((2, 4, 4, 3), np.uint8), "labels": [0]},
            ValueError,
            "2 images but 1 labels",
        ),
        ({"images": np.zeros((1, 4, 4, 3), np.uint8), "labels": [0.5]}, ValueError, "1-D integer"),
    ],
)
def test_load_npz_errors(arrays, error, match, tmp_path):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(error, match=match):
        load_npz(tmp_path / "bad.npz")


def test_load_npz_unreadable(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable .npz"):
        load_npz(tmp_path / "junk.npz")
    with pytest.raises(FileNotFoundError, match="no .npz file"):
        load_npz(tmp_path / "missing.npz")


def test_failed_download_names_the_dataset_and_the_way_out(tmp_path, monkeypatch):
    # No network in tests: make torchvision's dataset class fail as urllib does offline.
    import urllib.error

    import torchvision

    from probmoll.data import load_dataset

    def offline(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", offline)
    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    for name, cls in (("fashion-mnist", "FashionMNIST"), ("cifar10", "CIFAR10")):
        with pytest.raises(RuntimeError, match=rf"could not download {cls} into .*by hand"):
            load_dataset(
                name, "test", root=tmp_path / name, cache_dir=tmp_path / "c", download=True
            )


def test_first_images_of_a_class_folder_split_cover_the_classes(tmp_path):
    # eval.subset, `probmoll evaluate --subset` and -C --subset take the first n images:
    # for a class-sorted folder they would be one class alone.
    layout = {"test": {"a": 6, "b": 6, "c": 3}, "train": {"a": 1, "b": 1, "c": 1}}
    write_png_folder(tmp_path / "imgs", layout)
    split = load_dataset("folder", "test", root=tmp_path / "imgs", cache_dir=tmp_path / "cache")
    assert split.labels.tolist() == [0, 1, 2] * 3 + [0, 1] * 3
    assert np.bincount(split.subset(6).labels, minlength=3).tolist() == [2, 2, 2]
    assert interleave_classes([[1, 2, 3], [], [4]]) == [1, 4, 2, 3]
    assert interleave_classes([]) == []
