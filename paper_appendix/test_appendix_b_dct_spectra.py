"""Fig. 11 (Appendix B): the spectral measures against closed forms, then a small run."""

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import fft

from probmoll.data import load_dataset

HERE = Path(__file__).resolve().parent


@pytest.fixture
def spectra(monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))  # the script imports `_common` from its folder
    spec = importlib.util.spec_from_file_location(
        "paper_appendix_appendix_b_dct_spectra", HERE / "appendix_b_dct_spectra.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("_common", None)


@pytest.fixture(scope="module")
def images():
    return np.ascontiguousarray(load_dataset("synthetic", "test", n=200).images)


def test_dct_is_scipy_orthonormal_dct_per_channel(spectra, images):
    pixels = images[:4] / 255
    expected = fft.dctn(pixels, axes=(1, 2), norm="ortho").transpose(0, 3, 1, 2)
    np.testing.assert_allclose(spectra.dct_coefficients(pixels), expected, atol=1e-12)


def test_white_noise_changes_every_frequency_alike(spectra, images):
    # The orthonormal DCT maps white noise of scale sigma to white noise of scale sigma:
    # E|change| = sigma sqrt(2/pi) at every coefficient.
    sigma = 0.1
    pixels = images / 255
    noisy = pixels + sigma * np.random.default_rng(0).standard_normal(pixels.shape)
    change = spectra.mean_abs_change(
        spectra.dct_coefficients(pixels), spectra.dct_coefficients(noisy)
    )
    expected = sigma * math.sqrt(2 / math.pi)
    samples = pixels.shape[0] * pixels.shape[-1]
    index, _ = spectra.radial_bins(*change.shape)
    counts = np.bincount(index.ravel())
    standard_error = sigma * math.sqrt(1 - 2 / math.pi) / np.sqrt(samples * counts)
    profile = spectra.radial_profile(change)
    assert np.all(np.abs(profile - expected) < 5 * standard_error)
    assert abs(spectra.high_to_low_ratio(change) - 1) < 0.02


def test_heat_blur_reference_scales_each_coefficient_by_its_decay(spectra, images):
    # Blur of the standardised image mapped back is the blur of the image (linear, and the
    # DC coefficient is kept), so |change| = (1 - exp(-sigma^2 Lambda / 2)) |X| exactly.
    dataset = load_dataset("synthetic", "test", n=1)
    clean = spectra.dct_coefficients(images[:20] / 255)
    references = spectra.mollifier_references(images[:20], clean, dataset.mean, dataset.std, 0)
    size = images.shape[1]
    sigma = math.exp(0.75 * math.log(0.3) + 0.25 * math.log(size))  # Eq. 6 at t = 1/4
    frequency = np.pi * np.arange(size) / size
    decay = np.exp(-(sigma**2) / 2 * (frequency[:, None] ** 2 + frequency[None, :] ** 2))
    magnitude = np.abs(clean).mean(axis=(0, 1))
    np.testing.assert_allclose(
        references["blur t=0.25"], (1 - decay) * magnitude, rtol=1e-8, atol=1e-12
    )
    # The change relative to the image grows with the frequency.
    relative = spectra.radial_profile(references["blur t=0.25"] / magnitude)
    assert relative[0] < 1e-12 and np.all(np.diff(relative) > 0)
    assert set(references) == {
        f"{kind} {level}"
        for kind in ("noise", "blur")
        for level in ("t=0.1", "t=0.25", "t=0.5", "t~Beta(1,2)")
    }


def test_contrast_changes_each_non_dc_coefficient_by_one_minus_c(spectra, images):
    # x' = c (x - mean) + mean per image and channel: DCT[x'] - DCT[x] = (c - 1) X off DC.
    c = 0.3
    pixels = images[:50] / 255
    means = pixels.mean(axis=(1, 2), keepdims=True)
    clean = spectra.dct_coefficients(pixels)
    change = spectra.mean_abs_change(clean, spectra.dct_coefficients(c * (pixels - means) + means))
    expected = (1 - c) * np.abs(clean).mean(axis=(0, 1))
    assert change[0, 0] < 1e-12
    np.testing.assert_allclose(change.ravel()[1:], expected.ravel()[1:], rtol=1e-9)


def test_small_run_separates_noise_from_blur(spectra, tmp_path):
    argv = ["--data", "synthetic", "--images", "12", "--severity", "3", "--out", str(tmp_path)]
    # ImageNet-C's constants: the only ones of generators without presets; at 32 x 32 they
    # blur more than CIFAR-10-C's (defocus radius 6 against 0.5 at severity 3).
    argv += ["--preset", "imagenet-c"]
    argv += ["--corruptions", "gaussian_noise", "shot_noise", "defocus_blur", "contrast"]
    results = spectra.main(argv)
    saved = json.loads((tmp_path / "fig11_synthetic.json").read_text())
    assert saved["images"] == 12 and saved["severities"] == [3] and saved["seed"] == 0
    assert saved["preset"] == "imagenet-c" and "--data synthetic" in saved["command"]
    records = results["corruptions"]
    assert list(records) == ["gaussian_noise", "shot_noise", "defocus_blur", "contrast"]
    bins = len(saved["radial_frequency"])
    assert all(len(r["change"]) == len(r["power"]) == bins for r in records.values())
    for name in ("gaussian_noise", "shot_noise"):
        assert 0.8 < records[name]["high_to_low_ratio"] < 1.25
        assert records[name]["nearest_mollifier"].startswith("noise")
    assert records["defocus_blur"]["high_to_low_ratio"] < 0.6
    assert records["defocus_blur"]["nearest_mollifier"].startswith("blur")
    # The generator's contrast (quantised to uint8) scales every non-DC coefficient alike.
    gain = np.asarray(records["contrast"]["change"][1:]) / np.asarray(saved["clean_magnitude"][1:])
    assert gain.max() / gain.min() < 1.1 and 0.5 < gain.mean() < 0.85, gain
    assert results["conclusions"]["noise_corruptions_nearest_to_noise_mollification"] is True
    assert results["conclusions"]["blur_corruptions_nearest_to_blur_mollification"] is True
    assert (tmp_path / "fig11_synthetic.png").stat().st_size > 20_000
    assert "defocus_blur" in (tmp_path / "fig11_synthetic.md").read_text()
