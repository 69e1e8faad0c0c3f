"""Severity presets: the tables against their sources, ``auto``, and how sets record them."""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from probmoll.data import load_dataset
from probmoll.data.corruptions import (
    ALL_CORRUPTIONS,
    CORRUPTION_PRESETS,
    PRESET_CHOICES,
    PUBLISHED_SETS,
    CorruptedDataset,
    check_corruption_set,
    cli,
    corrupt_image,
    default_set_name,
    generate_corruptions,
    get_preset,
    open_corruptions,
    resolve_preset,
)
from probmoll.data.corruptions.presets import CorruptionPreset

# The constants typed from the sources. imagecorruptions-imaug 1.1.5, corruptions.py (the
# ``c`` lists; elastic_transform: alpha = 250 * [0.05, 0.065, 0.085, 0.1, 0.12], sigma
# 0.01 * size, displacement 0.005 * height).
PACKAGE_TABLE = {
    "gaussian_noise": [0.08, 0.12, 0.18, 0.26, 0.38],
    "shot_noise": [60, 25, 12, 5, 3],
    "impulse_noise": [0.03, 0.06, 0.09, 0.17, 0.27],
    "defocus_blur": [(3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)],
    "glass_blur": [(0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)],
    "motion_blur": [(10, 3), (15, 5), (15, 8), (15, 12), (20, 15)],
    "zoom_blur": [(1, 1.11, 0.01), (1, 1.16, 0.01), (1, 1.21, 0.02), (1, 1.26, 0.02),
                  (1, 1.31, 0.03)],
    "snow": [(0.1, 0.3, 3, 0.5, 10, 4, 0.8), (0.2, 0.3, 2, 0.5, 12, 4, 0.7),
             (0.55, 0.3, 4, 0.9, 12, 8, 0.7), (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65),
             (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55)],
    "frost": [(1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75)],
    "fog": [(1.5, 2), (2.0, 2), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4)],
    "brightness": [0.1, 0.2, 0.3, 0.4, 0.5],
    "contrast": [0.4, 0.3, 0.2, 0.1, 0.05],
    "elastic_transform": [(12.5, 0.01, 0.005), (16.25, 0.01, 0.005), (21.25, 0.01, 0.005),
                          (25.0, 0.01, 0.005), (30.0, 0.01, 0.005)],
    "pixelate": [0.6, 0.5, 0.4, 0.3, 0.25],
    "jpeg_compression": [25, 18, 15, 10, 7],
    "speckle_noise": [0.15, 0.2, 0.35, 0.45, 0.6],
    "gaussian_blur": [1, 2, 3, 4, 6],
    "spatter": [(0.65, 0.3, 4, 0.69, 0.6, 0), (0.65, 0.3, 3, 0.68, 0.6, 0),
                (0.65, 0.3, 2, 0.68, 0.5, 0), (0.65, 0.3, 1, 0.65, 1.5, 1),
                (0.67, 0.4, 1, 0.65, 1.5, 1)],
    "saturate": [(0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2)],
}  # fmt: skip
# hendrycks/robustness, ImageNet-C/create_c/make_cifar_c.py. zoom_blur: the np.arange
# arguments; elastic_transform: the multipliers of IMSIZE.
CIFAR_TABLE = {
    "gaussian_noise": [0.04, 0.06, 0.08, 0.09, 0.10],
    "shot_noise": [500, 250, 100, 75, 50],
    "impulse_noise": [0.01, 0.02, 0.03, 0.05, 0.07],
    "defocus_blur": [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)],
    "glass_blur": [(0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)],
    "motion_blur": [(6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)],
    "zoom_blur": [(1, 1.06, 0.01), (1, 1.11, 0.01), (1, 1.16, 0.01), (1, 1.21, 0.01),
                  (1, 1.26, 0.01)],
    "snow": [(0.1, 0.2, 1, 0.6, 8, 3, 0.95), (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
             (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9), (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
             (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8)],
    "frost": [(1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)],
    "fog": [(0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)],
    "brightness": [0.05, 0.1, 0.15, 0.2, 0.3],
    "contrast": [0.75, 0.5, 0.4, 0.3, 0.15],
    "elastic_transform": [(0, 0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06),
                          (0.1, 0.04, 0.05), (0.1, 0.03, 0.03)],
    "pixelate": [0.95, 0.9, 0.85, 0.75, 0.65],
    "jpeg_compression": [80, 65, 58, 50, 40],
    "speckle_noise": [0.06, 0.1, 0.12, 0.16, 0.2],
    "gaussian_blur": [0.4, 0.6, 0.7, 0.8, 1],
    "spatter": [(0.62, 0.1, 0.7, 0.7, 0.5, 0), (0.65, 0.1, 0.8, 0.7, 0.5, 0),
                (0.65, 0.3, 1, 0.69, 0.5, 0), (0.65, 0.1, 0.7, 0.69, 0.6, 1),
                (0.65, 0.1, 0.5, 0.68, 0.6, 1)],
    "saturate": [(0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)],
}  # fmt: skip
# hendrycks/robustness, ImageNet-C/create_c/make_tinyimagenet_c.py.
TINY_TABLE = {
    "gaussian_noise": [0.04, 0.08, 0.12, 0.15, 0.18],
    "shot_noise": [250, 100, 50, 30, 15],
    "impulse_noise": [0.01, 0.02, 0.05, 0.08, 0.14],
    "defocus_blur": [(0.5, 0.6), (1, 0.1), (1.5, 0.1), (2.5, 0.01), (3, 0.1)],
    "glass_blur": [(0.1, 1, 1), (0.5, 1, 1), (0.6, 1, 2), (0.7, 2, 1), (0.9, 2, 2)],
    "motion_blur": [(10, 1), (10, 1.5), (10, 2), (10, 2.5), (12, 3)],
    "zoom_blur": [(1, 1.06, 0.01), (1, 1.11, 0.01), (1, 1.16, 0.01), (1, 1.21, 0.01),
                  (1, 1.26, 0.01)],
    "snow": [(0.1, 0.2, 1, 0.6, 8, 3, 0.8), (0.1, 0.2, 1, 0.5, 10, 4, 0.8),
             (0.15, 0.3, 1.75, 0.55, 10, 4, 0.7), (0.25, 0.3, 2.25, 0.6, 12, 6, 0.65),
             (0.3, 0.3, 1.25, 0.65, 14, 12, 0.6)],
    "frost": [(1, 0.3), (0.9, 0.4), (0.8, 0.45), (0.75, 0.5), (0.7, 0.55)],
    "fog": [(0.4, 3), (0.7, 3), (1, 2.5), (1.5, 2), (2, 1.75)],
    "brightness": [0.1, 0.2, 0.3, 0.4, 0.5],
    "contrast": [0.4, 0.3, 0.2, 0.1, 0.05],
    "elastic_transform": [(0, 0, 0.08), (0.05, 0.3, 0.06), (0.1, 0.08, 0.06),
                          (0.1, 0.03, 0.03), (0.16, 0.03, 0.02)],
    "pixelate": [0.9, 0.8, 0.7, 0.6, 0.5],
    "jpeg_compression": [65, 58, 50, 40, 25],
    "speckle_noise": [0.15, 0.2, 0.25, 0.3, 0.35],
    "gaussian_blur": [0.5, 0.75, 1, 1.25, 1.5],
    "spatter": [(0.62, 0.1, 0.7, 0.7, 0.6, 0), (0.65, 0.1, 0.8, 0.7, 0.6, 0),
                (0.65, 0.3, 1, 0.69, 0.6, 0), (0.65, 0.1, 0.7, 0.68, 0.6, 1),
                (0.65, 0.1, 0.5, 0.67, 0.6, 1)],
    "saturate": [(0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (30, 0.2)],
}  # fmt: skip
SOURCES = {"imagenet-c": PACKAGE_TABLE, "cifar10-c": CIFAR_TABLE, "tinyimagenet-c": TINY_TABLE}


@pytest.mark.parametrize("preset", sorted(SOURCES))
@pytest.mark.parametrize("corruption", ALL_CORRUPTIONS)
def test_tables_hold_the_published_constants(preset, corruption):
    entries = CORRUPTION_PRESETS[preset].parameters[corruption]
    expected = SOURCES[preset][corruption]
    assert len(entries) == 5
    for severity, (entry, published) in enumerate(zip(entries, expected, strict=True), 1):
        assert np.allclose(entry, published, rtol=1e-12, atol=0), (severity, entry, published)
        assert CORRUPTION_PRESETS[preset].params(corruption, severity) == entry


def test_zoom_factors_are_the_sources_aranges():
    # The scripts' np.arange calls, typed: e.g. CIFAR-10-C severity 1 has 7 factors 1..1.06.
    assert np.array_equal(np.arange(*CIFAR_TABLE["zoom_blur"][0]), np.arange(1, 1.06, 0.01))
    assert len(np.arange(*CORRUPTION_PRESETS["cifar10-c"].params("zoom_blur", 1))) == 7
    assert len(np.arange(*CORRUPTION_PRESETS["imagenet-c"].params("zoom_blur", 5))) == 11


def test_preset_settings_follow_the_scripts():
    cifar, tiny = CORRUPTION_PRESETS["cifar10-c"], CORRUPTION_PRESETS["tinyimagenet-c"]
    assert cifar.settings["frost"] == {"photographs": 5, "photo_scale": 0.2, "reference_size": 32}
    assert tiny.settings["frost"] == {"photographs": 5, "photo_scale": 0.3, "reference_size": 64}
    assert (cifar.storage_quality, tiny.storage_quality) == (None, 85)
    assert "make_cifar_c.py" in cifar.source and "hendrycks/robustness" in cifar.source
    assert "make_tinyimagenet_c.py" in tiny.source
    assert "imagecorruptions" in CORRUPTION_PRESETS["imagenet-c"].source


def test_table_is_json_and_the_digest_follows_every_constant():
    preset = CORRUPTION_PRESETS["cifar10-c"]
    table = preset.table()
    assert json.loads(json.dumps(table)) == table
    assert table["parameters"]["glass_blur"][0] == [0.05, 1, 1]
    digests = {p.digest() for p in CORRUPTION_PRESETS.values()}
    assert len(digests) == 3
    changed = dict(preset.parameters, contrast=(0.75, 0.5, 0.4, 0.3, 0.16))
    other = CorruptionPreset(preset.name, preset.source, preset.max_size, changed, preset.settings)
    assert other.digest() != preset.digest()
    with pytest.raises(ValueError, match="missing"):
        CorruptionPreset("x", "y", None, {"contrast": (1, 2, 3, 4, 5)})


@pytest.mark.parametrize(
    "size, expected",
    [
        (32, "cifar10-c"),
        ((32, 32), "cifar10-c"),
        (28, "cifar10-c"),
        (33, "tinyimagenet-c"),
        ((32, 48), "tinyimagenet-c"),
        ((64, 64), "tinyimagenet-c"),
        (65, "imagenet-c"),
        ((224, 224), "imagenet-c"),
    ],
)
def test_auto_picks_the_preset_made_for_the_size(size, expected):
    assert resolve_preset("auto", size) == expected
    assert get_preset("auto", size).name == expected


def test_named_presets_pass_through_and_unknown_names_are_refused():
    for name in ("imagenet-c", "cifar10-c", "tinyimagenet-c"):
        assert resolve_preset(name, 32) == name and get_preset(name).name == name
    assert PRESET_CHOICES == ("auto", "imagenet-c", "cifar10-c", "tinyimagenet-c")
    with pytest.raises(ValueError, match=r"unknown preset 'cifar100-c'; valid choices: auto, "):
        resolve_preset("cifar100-c", 32)
    with pytest.raises(ValueError, match="needs the image size"):
        get_preset("auto")


def test_presets_need_only_the_standard_library():
    # So that configurations are checked without numpy or torch.
    from probmoll.data.corruptions import names, presets

    for module in (presets, names):
        for node in ast.walk(ast.parse(Path(module.__file__).read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                roots = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                roots = [node.module.split(".")[0]]
            else:
                continue
            assert all(root in sys.stdlib_module_names for root in roots), roots


# ------------------------------------------------------------------------ generated sets
@pytest.fixture(scope="module")
def clean():
    return load_dataset("synthetic", "test", n=6, num_classes=3)


def test_the_preset_is_in_the_name_and_the_manifest(clean, tmp_path):
    names = {p: default_set_name(clean, preset=p) for p in PRESET_CHOICES}
    assert names["auto"] == names["cifar10-c"] and "-n6-cifar10-c-seed0-" in names["auto"]
    assert len({names[p] for p in ("imagenet-c", "cifar10-c", "tinyimagenet-c")}) == 3
    assert "-imagenet-c-seed0-" in names["imagenet-c"]
    sets = {}
    for preset in ("imagenet-c", "cifar10-c"):
        sets[preset] = generate_corruptions(
            clean, tmp_path / preset, corruptions=["gaussian_noise"], severities=(5,),
            workers=1, progress=False, preset=preset,
        )  # fmt: skip
        manifest = json.loads((tmp_path / preset / "manifest.json").read_text())
        table = CORRUPTION_PRESETS[preset]
        assert manifest["preset"] == preset == sets[preset].preset
        assert manifest["parameters"] == table.table()
        assert manifest["parameters_sha256"] == table.digest()
        reopened = CorruptedDataset(tmp_path / preset)
        assert reopened.preset == preset and f"preset={preset!r}" in repr(reopened)
    # Gaussian noise at severity 5: sigma 0.38 (ImageNet-C) against 0.10 (CIFAR-10-C).
    spread = {p: np.asarray(s.load("gaussian_noise", 5)[0], float).std() for p, s in sets.items()}
    assert spread["imagenet-c"] > 1.5 * spread["cifar10-c"]
    with pytest.raises(ValueError, match=r"other settings \(differing: .*'preset'"):
        generate_corruptions(
            clean, tmp_path / "cifar10-c", corruptions=["gaussian_noise"], severities=(5,),
            workers=1, progress=False, preset="imagenet-c",
        )  # fmt: skip
    with pytest.raises(ValueError, match="unknown preset 'cifar'"):
        generate_corruptions(clean, tmp_path / "x", progress=False, preset="cifar")


def test_the_imagenet_preset_is_the_package_path(clean, tmp_path):
    from probmoll.data.corruptions import kernels

    sets = generate_corruptions(
        clean, tmp_path / "s", corruptions=["fog", "zoom_blur"], severities=(2,), workers=1,
        progress=False, preset="imagenet-c",
    )  # fmt: skip
    for name in ("fog", "zoom_blur"):
        images = np.asarray(sets.load(name, 2)[0])
        expected = [
            kernels.apply_corruption(image, name, 2, kernels.image_seed(0, name, 2, i))
            for i, image in enumerate(clean.images)
        ]
        np.testing.assert_array_equal(images, np.stack(expected))


def test_a_set_made_before_presets_is_an_imagenet_set(clean, tmp_path):
    out = tmp_path / "old"
    options = {"corruptions": ["contrast"], "severities": (1,), "workers": 1, "progress": False}
    generate_corruptions(clean, out, preset="imagenet-c", **options)
    manifest = json.loads((out / "manifest.json").read_text())
    for key in ("preset", "parameters", "parameters_sha256"):
        del manifest[key]
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert CorruptedDataset(out).preset == "imagenet-c"
    check = {"root": out, "corruptions": ["contrast"], "severities": (1,)}
    check_corruption_set("generated", clean, preset="imagenet-c", **check)
    with pytest.raises(ValueError, match="other settings"):
        check_corruption_set("generated", clean, preset="cifar10-c", **check)
    stamp = (out / "contrast.npy").stat().st_mtime_ns
    again = generate_corruptions(clean, out, preset="imagenet-c", **options)  # no error
    assert (out / "contrast.npy").stat().st_mtime_ns == stamp  # kept, not regenerated
    assert json.loads((out / "manifest.json").read_text())["preset"] == "imagenet-c"
    assert again.preset == "imagenet-c"
    with pytest.raises(ValueError, match="other settings"):
        generate_corruptions(clean, out, preset="cifar10-c", **options)


@pytest.mark.parametrize("preset", ["cifar10-c", "tinyimagenet-c"])
def test_presets_keep_the_determinism_rules(preset, tmp_path):
    gray = load_dataset("synthetic", "test", n=5, channels=1)
    names = ["impulse_noise", "glass_blur", "zoom_blur", "frost"]
    options = {"corruptions": names, "severities": (2, 5), "progress": False, "preset": preset}
    whole = generate_corruptions(gray, tmp_path / "a", workers=1, **options)
    chunked = generate_corruptions(gray, tmp_path / "b", workers=1, chunk_size=2, **options)
    part = generate_corruptions(gray, tmp_path / "c", workers=1, subset=3, **options)
    rgb = gray.images.repeat(3, axis=3)
    for name in names:
        for severity in (2, 5):
            images = np.asarray(whole.load(name, severity)[0])
            assert images.shape == (5, 32, 32, 1)
            np.testing.assert_array_equal(images, chunked.load(name, severity)[0])
            np.testing.assert_array_equal(images[:3], part.load(name, severity)[0])
            expected = [
                corrupt_image(rgb[i], name, severity, index=i, preset=preset)[..., :1]
                for i in range(5)
            ]
            np.testing.assert_array_equal(images, np.stack(expected))  # channel 0 of RGB


def test_open_corruptions_reports_and_checks_the_preset(clean, tmp_path):
    options = {"cache_dir": tmp_path, "corruptions": ["contrast"], "workers": 1, "progress": False}
    auto = open_corruptions("generated", dataset=clean, **options)
    tiny = open_corruptions("generated", dataset=clean, preset="tinyimagenet-c", **options)
    assert auto.preset == "cifar10-c" and tiny.preset == "tinyimagenet-c"
    assert auto.root != tiny.root and "-tinyimagenet-c-seed0-" in tiny.root.name
    assert open_corruptions(auto.root).preset == "cifar10-c"  # a folder: its manifest says
    with pytest.raises(ValueError, match="made with the 'cifar10-c' preset, not 'imagenet-c'"):
        open_corruptions(auto.root, preset="imagenet-c")
    with pytest.raises(ValueError, match="unknown preset"):
        open_corruptions("generated", dataset=clean, preset="imagenet", **options)
    assert PUBLISHED_SETS["cifar10-c"]["preset"] == "cifar10-c"
    assert PUBLISHED_SETS["cifar100-c"]["preset"] == "cifar10-c"  # made by the same script
    assert PUBLISHED_SETS["tinyimagenet-c"]["preset"] == "tinyimagenet-c"


def write_published_cifar_c(folder, labels):
    folder.mkdir(parents=True)
    np.save(folder / "labels.npy", np.tile(labels, 5))
    np.save(folder / "contrast.npy", np.zeros((5 * len(labels), 32, 32, 3), np.uint8))


def test_published_sets_are_their_own_preset(clean, tmp_path):
    write_published_cifar_c(tmp_path / "CIFAR-100-C", clean.labels)
    found = open_corruptions("cifar100-c", root=tmp_path)
    assert found.preset == "cifar10-c"
    assert open_corruptions(tmp_path / "CIFAR-100-C").preset == "cifar10-c"  # by its folder
    with pytest.raises(ValueError, match="'cifar10-c' preset, not 'tinyimagenet-c'"):
        open_corruptions("cifar100-c", root=tmp_path, preset="tinyimagenet-c")
    write_published_cifar_c(tmp_path / "mine", clean.labels)
    assert open_corruptions(tmp_path / "mine").preset is None  # nothing says
    assert open_corruptions(tmp_path / "mine", preset="imagenet-c").preset is None


def test_check_corruption_set_compares_the_preset(clean, tmp_path):
    options = {"corruptions": ["contrast"], "workers": 1, "progress": False}
    generate_corruptions(clean, tmp_path / "s", preset="tinyimagenet-c", **options)
    check = {"root": tmp_path / "s", "corruptions": ["contrast"]}
    check_corruption_set("generated", clean, preset="tinyimagenet-c", **check)
    with pytest.raises(ValueError, match="other settings"):
        check_corruption_set("generated", clean, **check)  # auto: cifar10-c at 32 px
    with pytest.raises(ValueError, match="unknown preset"):
        check_corruption_set("generated", clean, preset="x", **check)


def test_cli_takes_a_preset(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    common = ["--data", "synthetic", "--option", "n=3", "--corruptions", "contrast",
              "--severities", "1", "--workers", "1", "--no-progress"]  # fmt: skip
    args = parser.parse_args([*common, "--out", str(tmp_path / "a")])
    assert args.preset == "auto" and cli.run(args) == 0
    assert "preset cifar10-c" in capsys.readouterr().out
    args = parser.parse_args([*common, "--preset", "imagenet-c", "--out", str(tmp_path / "b")])
    assert cli.run(args) == 0
    assert CorruptedDataset(tmp_path / "b").preset == "imagenet-c"
    with pytest.raises(SystemExit):
        parser.parse_args([*common, "--preset", "cifar"])
