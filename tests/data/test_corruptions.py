"""Corruption benchmarks: names, the -C reader, the generator, its kernels and CLI."""

from __future__ import annotations

import argparse
import json
import re

import numpy as np
import pytest
from PIL import Image

from probmoll.data import DatasetSplit, load_dataset
from probmoll.data.corruptions import (
    ALL_CORRUPTIONS,
    BENCHMARK_CORRUPTIONS,
    CORRUPTION_CATEGORIES,
    HELDOUT_CORRUPTIONS,
    TABLE2_ORDER,
    CorruptedDataset,
    category_of,
    cli,
    corrupt_image,
    default_set_name,
    generate,
    generate_corruptions,
    image_seed,
    kernels,
    list_corruptions,
    open_corruptions,
)

# ------------------------------------------------------------------------ names
# Hendrycks & Dietterich's order (and imagecorruptions'): it indexes the per-image seeds.
HENDRYCKS_ORDER = [
    "gaussian_noise", "shot_noise", "impulse_noise",
    "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog", "brightness",
    "contrast", "elastic_transform", "pixelate", "jpeg_compression",
]  # fmt: skip
# The header of the paper's Table 2, copied column by column:
# noise: shot impulse gauss | blur: motion zoom defocus glass | weather: fog frost snow |
# digital: bright jpg pixel elastic contrast
PAPER_TABLE_2 = [
    "shot_noise", "impulse_noise", "gaussian_noise",
    "motion_blur", "zoom_blur", "defocus_blur", "glass_blur",
    "fog", "frost", "snow",
    "brightness", "jpeg_compression", "pixelate", "elastic_transform", "contrast",
]  # fmt: skip


def test_benchmark_names_keep_the_seed_order_and_table2_order_is_the_papers():
    assert list(BENCHMARK_CORRUPTIONS) == HENDRYCKS_ORDER
    assert list(TABLE2_ORDER) == PAPER_TABLE_2
    assert sorted(TABLE2_ORDER) == sorted(BENCHMARK_CORRUPTIONS)
    # Table 2's columns are the categories, contiguous and in order.
    assert [category_of(n) for n in TABLE2_ORDER] == [
        c for c, names in CORRUPTION_CATEGORIES.items() for _ in names
    ]
    assert list(HELDOUT_CORRUPTIONS) == ["speckle_noise", "gaussian_blur", "spatter", "saturate"]
    assert [n for names in CORRUPTION_CATEGORIES.values() for n in names] == HENDRYCKS_ORDER
    assert list(CORRUPTION_CATEGORIES) == ["noise", "blur", "weather", "digital"]
    # Sec. 4: noise 3/15, blur 4/15, weather 3/15, digital 5/15 (brightness is digital).
    assert [len(names) for names in CORRUPTION_CATEGORIES.values()] == [3, 4, 3, 5]
    assert category_of("brightness") == "digital"
    assert not set(BENCHMARK_CORRUPTIONS) & set(HELDOUT_CORRUPTIONS)


def test_names_match_the_imagecorruptions_package():
    from imagecorruptions import get_corruption_names

    assert list(ALL_CORRUPTIONS) == get_corruption_names("all")  # seeds index this order
    assert list(HELDOUT_CORRUPTIONS) == get_corruption_names("validation")


@pytest.mark.parametrize("name", list(ALL_CORRUPTIONS))
def test_category_of_every_corruption(name):
    category = category_of(name)
    assert category in CORRUPTION_CATEGORIES
    assert name in CORRUPTION_CATEGORIES[category] or name in HELDOUT_CORRUPTIONS


def test_unknown_names_list_valid_ones():
    with pytest.raises(ValueError, match="unknown corruption 'rain'.*gaussian_noise.*saturate"):
        category_of("rain")
    with pytest.raises(ValueError, match="unknown corruption group"):
        list_corruptions("everything")
    assert list_corruptions("blur") == ["defocus_blur", "glass_blur", "motion_blur", "zoom_blur"]
    assert len(list_corruptions("all")) == 19


# --------------------------------------------------------- reader: cifar-c layout
def write_fake_cifar_c(
    root, names=("fog", "contrast"), n=4, size=(32, 32), channels=3, severities=5
):
    """Each severity block filled with a distinct constant: 10 * severity (+ 1 for the
    second corruption), so a wrong slice shows up as a wrong value."""
    root.mkdir(parents=True, exist_ok=True)
    labels = np.arange(n) % 3
    np.save(root / "labels.npy", np.tile(labels, severities).astype(np.uint8))
    for offset, name in enumerate(names):
        blocks = [
            np.full((n, *size, channels), 10 * s + offset, np.uint8)
            for s in range(1, severities + 1)
        ]
        np.save(root / f"{name}.npy", np.concatenate(blocks))
    return labels


def test_severity_slicing_is_explicit(tmp_path):
    labels = write_fake_cifar_c(tmp_path / "c", n=7)
    sets = CorruptedDataset(tmp_path / "c", image_size=32)
    assert sets.corruptions == ("fog", "contrast")  # canonical (Hendrycks) order
    assert sets.severities == (1, 2, 3, 4, 5) and sets.num_images == 7
    assert sets.benchmark_corruptions == ("fog", "contrast") and sets.heldout_corruptions == ()
    for offset, name in enumerate(("fog", "contrast")):
        for severity in range(1, 6):
            images, got_labels = sets.load(name, severity)
            assert images.shape == (7, 32, 32, 3) and images.dtype == np.uint8
            assert (np.asarray(images) == 10 * severity + offset).all()
            assert got_labels.dtype == np.int64
            np.testing.assert_array_equal(got_labels, labels)
    assert isinstance(sets.load("fog", 2)[0], np.memmap)  # lazy
    assert list(sets) == [(c, s) for c in ("fog", "contrast") for s in range(1, 6)]


def test_manifest_severities_map_blocks(tmp_path):
    write_fake_cifar_c(tmp_path / "c", names=("fog",), n=3, severities=2)
    (tmp_path / "c" / "manifest.json").write_text(json.dumps({"severities": [2, 5]}))
    sets = CorruptedDataset(tmp_path / "c")
    assert sets.severities == (2, 5)
    assert (np.asarray(sets.load("fog", 5)[0]) == 20).all()  # second block
    with pytest.raises(
        ValueError, match=r"severity 1 is not available; valid severities: \[2, 5\]"
    ):
        sets.load("fog", 1)


def test_reader_errors(tmp_path):
    write_fake_cifar_c(tmp_path / "c", n=4)
    sets = CorruptedDataset(tmp_path / "c", image_size=(32, 32))
    with pytest.raises(ValueError, match="unknown corruption 'blizzard'.*gaussian_noise"):
        sets.load("blizzard", 1)
    with pytest.raises(
        FileNotFoundError, match=r"snow\.npy.*present: \['fog', 'contrast'\].*labels\.npy"
    ):
        sets.load("snow", 1)
    for bad in (0, 6):
        with pytest.raises(ValueError, match="valid severities"):
            sets.load("fog", bad)
    with pytest.raises(TypeError, match="severity must be an int"):
        sets.load("fog", "3")


def test_truncated_npy_is_reported(tmp_path):
    write_fake_cifar_c(tmp_path / "c", n=4)
    path = tmp_path / "c" / "fog.npy"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(
        ValueError,
        match=r"fog\.npy' is truncated or corrupted.*header announces shape \(20, 32, 32, 3\)",
    ):
        CorruptedDataset(tmp_path / "c").load("fog", 1)
    path.write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(ValueError, match="not a valid .npy file"):
        CorruptedDataset(tmp_path / "c").load("fog", 1)
    sets = CorruptedDataset(tmp_path / "c")
    with pytest.raises(ValueError, match="not a valid .npy file"):
        sets.validate()


def test_wrong_image_size_is_reported(tmp_path):
    write_fake_cifar_c(tmp_path / "c", n=2, size=(28, 28))
    with pytest.raises(ValueError, match="holds 28x28 images but 32x32 were expected"):
        CorruptedDataset(tmp_path / "c", image_size=32).load("fog", 1)
    np.save(tmp_path / "c" / "fog.npy", np.zeros((10, 28, 28), np.uint8))
    with pytest.raises(ValueError, match=r"expected uint8 \(N, H, W, C\)"):
        CorruptedDataset(tmp_path / "c").load("fog", 1)


def test_wrong_labels_are_reported(tmp_path):
    write_fake_cifar_c(tmp_path / "c", n=4)
    np.save(tmp_path / "c" / "labels.npy", np.zeros(19, np.int64))
    with pytest.raises(ValueError, match="19 labels, not a positive multiple of the 5 severities"):
        CorruptedDataset(tmp_path / "c")
    np.save(tmp_path / "c" / "labels.npy", np.zeros(25, np.int64))
    with pytest.raises(ValueError, match="20 images but labels.npy has 25 labels"):
        CorruptedDataset(tmp_path / "c").load("fog", 1)
    np.save(tmp_path / "c" / "labels.npy", np.arange(20))
    with pytest.raises(ValueError, match="does not repeat the same 4 labels"):
        CorruptedDataset(tmp_path / "c")
    (tmp_path / "c" / "labels.npy").unlink()
    with pytest.raises(FileNotFoundError, match=r"missing .*labels\.npy.*expected layout"):
        CorruptedDataset(tmp_path / "c")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        CorruptedDataset(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="unknown kind 'imagenet-c'"):
        CorruptedDataset(tmp_path / "c", kind="imagenet-c")


# ------------------------------------------------------ reader: Tiny-ImageNet-C
def write_fake_tiny_c(root, size=64):
    for severity in (1, 2):
        for wnid in ("n2", "n1"):
            folder = root / "fog" / str(severity) / wnid
            folder.mkdir(parents=True)
            for k in range(2):
                value = 40 * severity + (100 if wnid == "n2" else 0)
                Image.fromarray(np.full((size, size, 3), value, np.uint8)).save(
                    folder / f"{k}.JPEG", quality=100
                )


def test_tinyimagenet_c_layout(tmp_path):
    write_fake_tiny_c(tmp_path / "tc")
    sets = CorruptedDataset(
        tmp_path / "tc", kind="tinyimagenet-c", image_size=64, cache_dir=tmp_path / "cache"
    )
    assert sets.corruptions == ("fog",) and sets.severities == (1, 2)
    images, labels = sets.load("fog", 2)
    # Classes interleaved (the first image of each class, then the second).
    assert images.shape == (4, 64, 64, 3) and labels.tolist() == [0, 1, 0, 1]
    np.testing.assert_allclose(np.asarray(images)[labels == 1].mean(), 180, atol=1)
    np.testing.assert_allclose(np.asarray(images)[labels == 0].mean(), 80, atol=1)
    reordered = CorruptedDataset(
        tmp_path / "tc", kind="tinyimagenet-c", classes=["n2", "n1"], cache_dir=tmp_path / "c2"
    )
    reordered_images, reordered_labels = reordered.load("fog", 2)
    assert reordered_labels.tolist() == [0, 1, 0, 1]  # n2 is class 0 here
    np.testing.assert_allclose(
        np.asarray(reordered_images)[reordered_labels == 0].mean(), 180, atol=1
    )
    with pytest.raises(ValueError, match="holds 64x64 images but 32x32"):
        CorruptedDataset(
            tmp_path / "tc", kind="tinyimagenet-c", image_size=32, cache_dir=tmp_path / "cache"
        ).load("fog", 1)
    with pytest.raises(FileNotFoundError, match="missing folder .*snow"):
        sets.load("snow", 1)
    with pytest.raises(ValueError, match="not among the 1 expected wnids"):
        CorruptedDataset(
            tmp_path / "tc", kind="tinyimagenet-c", classes=["n1"], cache_dir=tmp_path / "c3"
        ).load("fog", 1)


def test_tinyimagenet_c_first_images_of_a_cell_cover_the_classes(tmp_path):
    wnids = ["n1", "n2", "n3"]
    for wnid in wnids:
        folder = tmp_path / "tc" / "fog" / "1" / wnid
        folder.mkdir(parents=True)
        for k in range(3):
            Image.fromarray(np.full((64, 64, 3), 10 * k, np.uint8)).save(folder / f"{k}.JPEG")
    sets = CorruptedDataset(tmp_path / "tc", kind="tinyimagenet-c", cache_dir=tmp_path / "cache")
    images, labels = sets.load("fog", 1)
    # What evaluate --subset 3 reads of this cell: one image of every class.
    assert sorted(labels[:3].tolist()) == [0, 1, 2]
    assert labels.tolist() == [0, 1, 2] * 3
    sidecars = list((tmp_path / "cache").rglob("*.json"))
    assert sidecars and all('"interleaved"' in p.read_text() for p in sidecars)


# --------------------------------------------------------------- open_corruptions
def test_open_published_sets(tmp_path):
    with pytest.raises(
        FileNotFoundError, match=r"CIFAR-10-C not found.*https://zenodo.org/records/2535967"
    ):
        open_corruptions("cifar10-c", root=tmp_path)
    with pytest.raises(FileNotFoundError, match=r"https://zenodo.org/records/3555552"):
        open_corruptions("cifar100-c", root=tmp_path)
    with pytest.raises(
        FileNotFoundError, match=r"Tiny-ImageNet-C.*https://zenodo.org/records/2536630"
    ):
        open_corruptions("tinyimagenet-c", root=tmp_path)
    write_fake_cifar_c(tmp_path / "CIFAR-10-C", n=2)
    sets = open_corruptions("cifar10-c", root=tmp_path)  # the parent folder is enough
    assert sets.image_size == (32, 32) and sets.corruptions == ("fog", "contrast")
    assert open_corruptions(str(tmp_path / "CIFAR-10-C")).kind == "cifar-c"  # a path
    assert open_corruptions(tmp_path / "CIFAR-10-C").corruptions == ("fog", "contrast")
    with pytest.raises(FileNotFoundError, match="no corruption set folder"):
        open_corruptions(tmp_path / "absent")
    with pytest.raises(
        ValueError, match=r"unknown corruption set 'mnist-c' \(and no such folder\)"
    ):
        open_corruptions("mnist-c")
    with pytest.raises(ValueError, match="needs dataset="):
        open_corruptions("generated")


def clean_split(labels, name="cifar10"):
    """A clean split with the given labels (the images do not matter for label checks)."""
    labels = np.asarray(labels, dtype=np.int64)
    images = np.zeros((len(labels), 32, 32, 3), np.uint8)
    classes = tuple(str(k) for k in range(10))
    return DatasetSplit(name, "test", images, labels, classes, (0.5,) * 3, (0.25,) * 3)


def test_labels_are_checked_against_the_clean_split_and_the_model(tmp_path):
    labels = write_fake_cifar_c(tmp_path / "c", n=6)  # 0 1 2 0 1 2
    sets = CorruptedDataset(tmp_path / "c")
    sets.check_labels(labels, num_classes=3)  # the same labels, in range: fine
    shifted = (labels + 1) % 3
    with pytest.raises(
        ValueError,
        match=r"labels\.npy': its 6 labels per severity differ from those of the clean split at "
        r"6 positions \(first at image 0: 0 against 1\)",
    ):
        sets.check_labels(shifted)
    with pytest.raises(ValueError, match=r"labels\.npy': label 2 is outside \[0, 1\]"):
        sets.check_labels(num_classes=2)
    # Another image count: the labels cannot be compared, their range still can.
    sets.check_labels(shifted[:5], num_classes=3)
    with pytest.raises(ValueError, match=r"label 2 is outside \[0, 1\] of the model's 2"):
        sets.check_labels(shifted[:5], num_classes=2)


def test_published_set_with_other_labels_than_the_clean_split_is_refused(tmp_path):
    labels = write_fake_cifar_c(tmp_path / "CIFAR-10-C", n=6)
    assert open_corruptions("cifar10-c", root=tmp_path, dataset=clean_split(labels)).num_images == 6
    with pytest.raises(ValueError, match=r"CIFAR-10-C/labels\.npy'.*differ from those of the test"):
        open_corruptions("cifar10-c", root=tmp_path, dataset=clean_split(labels[::-1]))
    # A folder given by path is checked the same way.
    with pytest.raises(ValueError, match="differ from those of the test split of 'cifar10'"):
        open_corruptions(tmp_path / "CIFAR-10-C", dataset=clean_split(labels[::-1]))


def test_published_sets_prefer_their_named_subfolder(tmp_path):
    write_fake_cifar_c(tmp_path, names=("fog",), n=2)  # a set extracted loose into the parent
    write_fake_cifar_c(tmp_path / "CIFAR-100-C", names=("snow",), n=2)
    assert open_corruptions("cifar100-c", root=tmp_path).corruptions == ("snow",)
    assert open_corruptions("cifar10-c", root=tmp_path).corruptions == ("fog",)


def test_the_folder_of_another_published_set_is_refused(tmp_path):
    write_fake_cifar_c(tmp_path / "CIFAR-10-C", n=2)
    with pytest.raises(
        ValueError,
        match=r"CIFAR-100-C \('cifar100-c'\) was asked for but .*CIFAR-10-C' is the folder of "
        "CIFAR-10-C",
    ):
        open_corruptions("cifar100-c", root=tmp_path / "CIFAR-10-C")
    assert open_corruptions("cifar10-c", root=tmp_path / "CIFAR-10-C").num_images == 2


def test_tinyimagenet_c_class_count_is_checked(tmp_path):
    write_fake_tiny_c(tmp_path / "tc")
    sets = CorruptedDataset(tmp_path / "tc", kind="tinyimagenet-c", cache_dir=tmp_path / "cache")
    sets.check_labels(num_classes=2)
    with pytest.raises(ValueError, match="has 2 class folders but the model has 1 classes"):
        sets.check_labels(num_classes=1)


# --------------------------------------------------------------------- generator
THREE = ["gaussian_noise", "zoom_blur", "frost"]  # canonical order


@pytest.fixture(scope="module")
def clean():
    return load_dataset("synthetic", "test", n=10, num_classes=4)


def test_generate_and_read_back(clean, tmp_path):
    sets = generate_corruptions(
        clean, tmp_path / "set", corruptions=THREE, subset=6, workers=1, progress=False
    )
    assert sets.corruptions == tuple(THREE) and sets.num_images == 6
    manifest = json.loads((tmp_path / "set" / "manifest.json").read_text())
    assert manifest["generator"]["package"] == "imagecorruptions-imaug"
    assert manifest["generator"]["version"]
    assert manifest["seed"] == 0 and manifest["severities"] == [1, 2, 3, 4, 5]
    assert manifest["source"]["dataset"] == "synthetic" and manifest["source"]["subset"] == 6
    assert manifest["image_shape"] == [32, 32, 3] and list(manifest["files"]) == THREE
    sets.validate(checksums=True)
    for name in THREE:
        for severity in (1, 5):
            images, labels = sets.load(name, severity)
            np.testing.assert_array_equal(labels, clean.labels[:6])
            expected = [
                corrupt_image(clean.images[i], name, severity, seed=0, index=i) for i in range(6)
            ]
            np.testing.assert_array_equal(images, np.stack(expected))
    noisy = np.asarray(sets.load("gaussian_noise", 5)[0], dtype=float)
    assert (
        np.abs(noisy - clean.images[:6]).mean()
        > np.abs(
            np.asarray(sets.load("gaussian_noise", 1)[0], dtype=float) - clean.images[:6]
        ).mean()
        > 0
    )  # severity grows


def test_output_does_not_depend_on_workers_or_chunks(clean, tmp_path):
    options = {
        "corruptions": ["gaussian_noise", "glass_blur", "zoom_blur"],
        "progress": False,
        "severities": (1, 4),
    }
    one = generate_corruptions(clean, tmp_path / "one", workers=1, **options)
    two = generate_corruptions(clean, tmp_path / "two", workers=2, chunk_size=3, **options)
    for name in options["corruptions"]:
        assert one.manifest is not None
        first = (tmp_path / "one" / f"{name}.npy").read_bytes()
        assert first == (tmp_path / "two" / f"{name}.npy").read_bytes()
    small = generate_corruptions(clean, tmp_path / "small", subset=4, workers=1, **options)
    for severity in (1, 4):
        np.testing.assert_array_equal(
            small.load("glass_blur", severity)[0], two.load("glass_blur", severity)[0][:4]
        )
    assert not list(tmp_path.rglob(".source-*")) and not list(tmp_path.rglob("*.tmp"))


def test_generation_resumes_and_refuses_other_settings(clean, tmp_path):
    out = tmp_path / "set"
    generate_corruptions(clean, out, corruptions=THREE, workers=1, progress=False, severities=(2,))
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.npy")}
    original = (out / "frost.npy").read_bytes()
    (out / "frost.npy").unlink()
    generate_corruptions(clean, out, corruptions=THREE, workers=1, progress=False, severities=(2,))
    assert (out / "frost.npy").read_bytes() == original  # regenerated identically
    for name in ("gaussian_noise.npy", "zoom_blur.npy", "labels.npy"):
        assert (out / name).stat().st_mtime_ns == stamps[name]  # kept
    with pytest.raises(
        ValueError, match=r"other settings \(differing: \['seed'\]\).*overwrite=True"
    ):
        generate_corruptions(
            clean, out, corruptions=THREE, seed=1, workers=1, progress=False, severities=(2,)
        )
    replaced = generate_corruptions(
        clean,
        out,
        corruptions=["contrast"],
        seed=1,
        workers=1,
        progress=False,
        severities=(2,),
        overwrite=True,
    )
    assert replaced.corruptions == ("contrast",)


def test_a_second_generator_waits_for_the_first_and_reuses_its_files(clean, tmp_path, capsys):
    import threading

    from probmoll.data.corruptions.generate import LOCK_NAME
    from probmoll.utils.io import exclusive_file_lock

    out = tmp_path / "set"
    options = {"corruptions": ["contrast"], "workers": 1, "progress": False, "severities": (2,)}
    first = generate_corruptions(clean, out, **options)
    stamp = (out / "contrast.npy").stat().st_mtime_ns
    done = threading.Event()

    def second():
        generate_corruptions(clean, out, **options)
        done.set()

    with exclusive_file_lock(out / LOCK_NAME):  # another process generating this set
        thread = threading.Thread(target=second)
        thread.start()
        assert not done.wait(0.5)  # waits while the set is being generated
    thread.join(30)
    assert done.is_set()
    assert (out / "contrast.npy").stat().st_mtime_ns == stamp  # found complete, not redone
    assert first.corruptions == ("contrast",)
    assert "waiting for another process generating" in capsys.readouterr().err


def test_grayscale_keeps_channel_zero(tmp_path):
    gray = load_dataset("synthetic", "test", n=3, channels=1)
    sets = generate_corruptions(
        gray, tmp_path / "g", corruptions=["impulse_noise", "frost"], workers=1, progress=False
    )
    for name in ("impulse_noise", "frost"):
        images, _ = sets.load(name, 3)
        assert images.shape == (3, 32, 32, 1)
        rgb = gray.images.repeat(3, axis=3)
        expected = [corrupt_image(rgb[i], name, 3, index=i)[..., :1] for i in range(3)]
        np.testing.assert_array_equal(images, np.stack(expected))
    # Impulse noise stays salt and pepper: only 0, 255 or the clean value (a luminance mix
    # of three independently noised channels would not).
    noisy, clean_values = np.asarray(sets.load("impulse_noise", 5)[0]), gray.images
    assert np.isin(noisy, [0, 255]).mean() > 0.05  # cifar10-c (auto at 32 px): amount 0.07
    assert ((noisy == 0) | (noisy == 255) | (noisy == clean_values)).all()


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"corruptions": ["hail"]}, ValueError, "unknown corruption 'hail'"),
        ({"severities": (0, 3)}, ValueError, r"severities must be integers in 1\.\.5"),
        ({"severities": (3, 3)}, ValueError, "must not repeat"),
        ({"subset": 0}, ValueError, "subset must be a positive int or None, got 0"),
        ({"subset": 2.5}, ValueError, "subset must be a positive int"),
        ({"workers": 0}, ValueError, "workers must be a positive int"),
        ({"seed": -1}, ValueError, "seed must be a non-negative int"),
    ],
)
def test_generator_argument_errors(clean, tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        generate_corruptions(clean, tmp_path / "x", progress=False, **kwargs)


def test_images_below_32_pixels_are_refused(tmp_path):
    small = load_dataset("synthetic", "test", n=2, size=28)
    with pytest.raises(
        ValueError, match=r"28x28 but the corruptions need at least 32x32.*pad_to=32"
    ):
        generate_corruptions(small, tmp_path / "x", progress=False)
    with pytest.raises(TypeError, match="DatasetSplit"):
        generate_corruptions(small.images, tmp_path / "x")


def test_corrupt_image_restores_global_rng(clean):
    np.random.seed(123)  # noqa: NPY002
    before = np.random.get_state()[1].copy()  # noqa: NPY002
    corrupt_image(clean.images[0], "motion_blur", 2)
    assert (np.random.get_state()[1] == before).all()  # noqa: NPY002
    assert image_seed(0, "fog", 1, 0) != image_seed(0, "fog", 1, 1) != image_seed(1, "fog", 1, 1)


def test_open_generated_set_is_cached(clean, tmp_path):
    first = open_corruptions(
        "generated",
        dataset=clean,
        cache_dir=tmp_path,
        corruptions=["contrast"],
        workers=1,
        progress=False,
    )
    assert (
        first.root.parent == tmp_path / "corruptions"
        and "synthetic-test-32x32x3-n10-cifar10-c-seed0" in first.root.name
    )
    stamp = (first.root / "contrast.npy").stat().st_mtime_ns
    again = open_corruptions(
        "generated",
        dataset="synthetic",
        dataset_options={"n": 10, "num_classes": 4},
        cache_dir=tmp_path,
        corruptions=["contrast"],
        workers=1,
        progress=False,
    )
    assert again.root == first.root and (again.root / "contrast.npy").stat().st_mtime_ns == stamp


def test_opening_a_cached_generated_set_hashes_the_source_once(clean, tmp_path, monkeypatch):
    options = {"cache_dir": tmp_path, "corruptions": ["contrast"], "workers": 1, "progress": False}
    first = open_corruptions("generated", dataset=clean, subset=6, **options)
    manifest = (first.root / "manifest.json").read_text()
    calls = []
    settings = generate._settings
    monkeypatch.setattr(generate, "_settings", lambda *args: calls.append(args) or settings(*args))
    again = open_corruptions("generated", dataset=clean, subset=6, **options)
    assert len(calls) == 1
    assert again.root == first.root and (again.root / "manifest.json").read_text() == manifest
    assert again.root.name == default_set_name(clean, subset=6)


@pytest.mark.parametrize("whole", [10, 11, 1000])
def test_a_subset_as_large_as_the_split_is_the_split(clean, tmp_path, whole):
    options = {"corruptions": ["contrast"], "severities": (1,), "workers": 1, "progress": False}
    generate_corruptions(clean, tmp_path / "set", **options)
    again = generate_corruptions(clean, tmp_path / "set", subset=whole, **options)
    assert again.num_images == 10 and again.manifest["source"]["subset"] is None
    # And the other way round: a set made with subset=len first serves subset=None.
    first = generate_corruptions(clean, tmp_path / "other", subset=whole, **options)
    assert first.manifest["source"]["subset"] is None
    generate_corruptions(clean, tmp_path / "other", **options)
    assert default_set_name(clean, subset=whole) == default_set_name(clean)


def test_open_generated_cache_folder_ignores_a_whole_split_subset(clean, tmp_path):
    options = {"cache_dir": tmp_path, "corruptions": ["contrast"], "workers": 1, "progress": False}
    full = open_corruptions("generated", dataset=clean, **options)
    assert open_corruptions("generated", dataset=clean, subset=10, **options).root == full.root
    assert open_corruptions("generated", dataset=clean, subset=25, **options).root == full.root
    part = open_corruptions("generated", dataset=clean, subset=4, **options)
    assert part.root != full.root and part.num_images == 4
    assert "-n4-cifar10-c-seed0-" in part.root.name


def test_default_set_name_changes_with_the_source_and_the_package(clean, monkeypatch):
    name = default_set_name(clean)
    assert re.fullmatch(r"synthetic-test-32x32x3-n10-cifar10-c-seed0-[0-9a-f]{12}", name)
    assert default_set_name(clean) == name  # stable
    # Same name, split, shape and size, other pixels: another folder, never a collision.
    other_pixels = DatasetSplit(
        clean.name, clean.split, 255 - clean.images, clean.labels, clean.classes, clean.mean,
        clean.std,
    )  # fmt: skip
    assert default_set_name(other_pixels) != name
    other_labels = DatasetSplit(
        clean.name, clean.split, clean.images, (clean.labels + 1) % 4, clean.classes,
        clean.mean, clean.std,
    )  # fmt: skip
    assert default_set_name(other_labels) != name
    assert default_set_name(clean, seed=1) != name
    assert default_set_name(clean, severities=(1, 2)) != name
    real_version = generate.importlib.metadata.version

    def version(package):
        return "999.0" if package == generate.PACKAGE else real_version(package)

    monkeypatch.setattr(generate.importlib.metadata, "version", version)
    assert default_set_name(clean) != name


def test_changed_dataset_gets_a_new_cache_folder_instead_of_an_error(clean, tmp_path):
    options = {"cache_dir": tmp_path, "corruptions": ["contrast"], "workers": 1, "progress": False}
    first = open_corruptions("generated", dataset=clean, **options)
    changed = DatasetSplit(
        clean.name, clean.split, 255 - clean.images, clean.labels, clean.classes, clean.mean,
        clean.std,
    )  # fmt: skip
    second = open_corruptions("generated", dataset=changed, **options)
    assert second.root != first.root
    assert second.manifest["source"]["images_sha256"] != first.manifest["source"]["images_sha256"]


# ----------------------------------------------------------------------- kernels
def random_images(count, shape, seed):
    return np.random.default_rng(seed).integers(0, 256, (count, *shape, 3), dtype=np.uint8)


@pytest.mark.parametrize("shape", [(32, 32), (64, 64), (40, 72)])
def test_cached_frost_is_identical_to_the_package(shape):
    from imagecorruptions import corrupt

    for index, image in enumerate(random_images(4, shape, seed=len(shape) + shape[1])):
        for severity in range(1, 6):
            np.random.seed(index * 10 + severity)  # noqa: NPY002
            reference = corrupt(image, severity=severity, corruption_name="frost")
            np.random.seed(index * 10 + severity)  # noqa: NPY002
            np.testing.assert_array_equal(kernels.frost(image, severity), reference)


@pytest.mark.parametrize("shape", [(32, 32), (33, 47)])
def test_batched_zoom_blur_is_identical_to_the_package(shape):
    from imagecorruptions import corrupt

    images = random_images(6, shape, seed=shape[1])
    for severity in range(1, 6):
        reference = np.stack(
            [corrupt(im, severity=severity, corruption_name="zoom_blur") for im in images]
        )
        np.testing.assert_array_equal(kernels.zoom_blur_batch(images, severity), reference)


def test_spatter_matches_the_package_and_handles_an_empty_liquid_layer():
    from imagecorruptions.corruptions import spatter as package_spatter

    image = random_images(1, (32, 32), seed=5)[0]
    empty_layer_seeds = []
    for seed in range(400):
        np.random.seed(seed)  # noqa: NPY002
        with np.errstate(invalid="ignore", divide="ignore"):
            reference = np.asarray(package_spatter(Image.fromarray(image), 1))
        np.random.seed(seed)  # noqa: NPY002
        ours = kernels.spatter(image, 1)
        if np.isnan(reference).all():
            empty_layer_seeds.append(seed)
            round_trip = np.uint8(np.clip(image.astype(np.float32) / 255, 0, 1) * 255)
            np.testing.assert_array_equal(ours, round_trip)
            assert np.abs(ours.astype(int) - image).max() <= 1
        else:
            np.testing.assert_array_equal(ours, np.uint8(reference))
    assert empty_layer_seeds  # the case occurs at 32x32 (about 1% of seeds)


# --------------------------------------------------------------------------- CLI
def test_cli_generates_a_set(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args([
        "--data", "synthetic", "--option", "n=5", "--option", "num_classes=3", "--subset", "4",
        "--corruptions", "contrast,pixelate", "--severities", "1,3", "--workers", "1",
        "--out", str(tmp_path / "out"), "--no-progress", "--cache-dir", str(tmp_path / "cache"),
    ])  # fmt: skip
    assert cli.run(args) == 0
    assert "2 corruptions x 2 severities x 4 images" in capsys.readouterr().out
    sets = CorruptedDataset(tmp_path / "out")
    assert sets.corruptions == ("contrast", "pixelate") and sets.severities == (1, 3)
    bad = parser.parse_args(
        ["--data", "synthetic", "--corruptions", "hail", "--out", str(tmp_path / "o2")]
    )
    assert cli.run(bad) == 2
    assert "unknown corruption 'hail'" in capsys.readouterr().err


def test_split_contract_of_generated_sets(clean, tmp_path):
    sets = generate_corruptions(
        clean, tmp_path / "s", corruptions=["brightness"], workers=1, progress=False
    )
    images, labels = sets.load("brightness", 3)
    split = DatasetSplit(
        "b", "s3", np.asarray(images), labels, clean.classes, clean.mean, clean.std
    )
    assert len(split) == len(clean) and split.image_size == clean.image_size
