"""Per-image mini-batch mollification (Sec. 4 "Mini-batching") and its configuration."""

import dataclasses
import math

import numpy as np
import pytest
import scipy.stats
import torch
import torch.nn.functional as F
import yaml

from probmoll.mollify import (
    PNG_CURVE_IMAGES,
    PNG_CURVE_POINTS,
    ROLE_NAMES,
    BlurInformationCurve,
    BlurSchedule,
    LabelForm,
    MollifiedBatch,
    Mollifier,
    MollifyConfig,
    Role,
    blur,
    blur_information_curve,
    create_mollifier,
    gamma_blur,
    gamma_blur_table,
    gamma_noise,
    label_smooth,
    label_temper,
    noise,
    noise_coefficients,
    sample_beta,
)
from probmoll.train.config import ConfigError, load_config
from probmoll.train.distributed import DistributedContext
from probmoll.train.engine import Trainer, load_data
from tests.helpers import TINY, SyncRecorder


def batch(size=64, channels=3, height=8, width=8, num_classes=10, seed=0, dtype=torch.float32):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(size, channels, height, width, generator=generator).to(dtype)
    y = torch.randint(0, num_classes, (size,), generator=generator)
    return x, y


def test_role_codes_and_names():
    assert ROLE_NAMES == ("clean", "noise", "blur")
    assert [int(role) for role in Role] == [0, 1, 2]
    assert MollifiedBatch.role_names == ROLE_NAMES


# ------------------------------------------------------------------------- sampling
@pytest.mark.parametrize("alpha, beta", [(1.0, 2.0), (0.5, 0.5), (2.0, 5.0), (0.2, 3.0)])
def test_sample_beta_matches_scipy_beta(alpha, beta):
    samples = sample_beta(alpha, beta, (20000,), generator=torch.Generator().manual_seed(1))
    assert samples.dtype == torch.float32 and ((samples >= 0) & (samples <= 1)).all()
    result = scipy.stats.kstest(samples.double().numpy(), scipy.stats.beta(alpha, beta).cdf)
    assert result.pvalue > 1e-3, result


def test_sample_beta_is_reproducible_and_float64_capable():
    first = sample_beta(
        1.0, 2.0, (5, 3), generator=torch.Generator().manual_seed(3), dtype=torch.float64
    )
    again = sample_beta(
        1.0, 2.0, (5, 3), generator=torch.Generator().manual_seed(3), dtype=torch.float64
    )
    assert first.shape == (5, 3) and first.dtype == torch.float64 and torch.equal(first, again)


@pytest.mark.parametrize(
    "roles, weights",
    [
        (ROLE_NAMES, None),
        (ROLE_NAMES, (0.5, 0.25, 0.25)),
        (("blur", "clean"), (3, 1)),
        (("noise", "clean", "blur"), (0.2, 0.0, 0.8)),
        (("noise",), None),
    ],
)
def test_role_frequencies_match_weights(roles, weights):
    mollifier = Mollifier(roles=roles, weights=weights)
    draws = mollifier.sample_roles(6000, torch.Generator().manual_seed(2))
    assert draws.dtype == torch.int64
    probabilities = np.asarray(weights if weights is not None else [1.0] * len(roles), float)
    probabilities /= probabilities.sum()
    expected = np.zeros(3)
    for name, p in zip(roles, probabilities, strict=True):
        expected[Role[name.upper()]] = p * draws.numel()
    observed = np.bincount(draws.numpy(), minlength=3)
    assert (observed[expected == 0] == 0).all()
    if (expected > 0).sum() > 1:
        result = scipy.stats.chisquare(observed[expected > 0], expected[expected > 0])
        assert result.pvalue > 1e-3, (observed, expected)


def test_temperatures_of_mollified_images_follow_beta_and_clean_ones_are_zero():
    mollifier = Mollifier(alpha=1.0, beta=2.0, num_classes=10)
    x, y = batch(size=3000, height=2, width=2)
    out = mollifier(x, y, torch.Generator().manual_seed(4))
    clean = out.roles == Role.CLEAN
    assert (out.t[clean] == 0).all() and (out.gamma[clean] == 0).all()
    result = scipy.stats.kstest(out.t[~clean].double().numpy(), scipy.stats.beta(1, 2).cdf)
    assert result.pvalue > 1e-3
    assert out.t[~clean].mean().item() == pytest.approx(1 / 3, abs=0.02)


# ----------------------------------------------------------------------- transform
def test_clean_images_are_untouched_and_get_onehot_targets():
    mollifier = Mollifier(num_classes=10)
    x, y = batch()
    out = mollifier(x, y, torch.Generator().manual_seed(5))
    clean = out.roles == Role.CLEAN
    assert clean.any() and (~clean).any()
    assert torch.equal(out.x[clean], x[clean])
    assert torch.equal(out.y[clean], torch.eye(10)[y[clean]])
    assert not torch.equal(out.x[~clean], x[~clean])


def test_each_role_applies_its_kernel_and_schedule():
    mollifier = Mollifier(k_noise=2.0, k_blur=0.5, sigma_min=0.5, sigma_max=6.0, num_classes=10)
    x, y = batch(size=96, height=16, width=12, dtype=torch.float64)
    out = mollifier(x, y, torch.Generator().manual_seed(6))
    blurred = out.roles == Role.BLUR
    noised = out.roles == Role.NOISE
    assert out.t.dtype == torch.float64
    torch.testing.assert_close(out.x[blurred], blur(x[blurred], out.t[blurred], 0.5, 6.0))
    torch.testing.assert_close(out.gamma[blurred], gamma_blur(out.t[blurred], 0.5))
    torch.testing.assert_close(out.gamma[noised], gamma_noise(out.t[noised], 2.0))
    # Noised images: recover epsilon from Eq. 4; it must be standard normal.
    alpha, sigma = noise_coefficients(out.t[noised].reshape(-1, 1, 1, 1))
    epsilon = (out.x[noised] - alpha * x[noised]) / sigma
    assert abs(epsilon.mean().item()) < 0.05 and epsilon.std().item() == pytest.approx(1, abs=0.05)
    torch.testing.assert_close(out.y, label_smooth(y, out.gamma, 10))


@pytest.mark.parametrize("form", ["smooth", "temper", "none", LabelForm.TEMPER])
def test_label_forms(form):
    mollifier = Mollifier(label_form=form, num_classes=10)
    x, y = batch()
    out = mollifier(x, y, torch.Generator().manual_seed(7))
    expected = {
        "smooth": label_smooth(y, out.gamma, 10),
        "temper": label_temper(y, out.gamma, 10),
        "none": torch.eye(10)[y],
    }[LabelForm(form).value]
    torch.testing.assert_close(out.y, expected)


def test_soft_targets_compose_after_mixing():
    mollifier = Mollifier(num_classes=4)
    x, _ = batch(size=32)
    soft = torch.softmax(torch.randn(32, 4, generator=torch.Generator().manual_seed(0)), dim=-1)
    out = mollifier(x, soft, torch.Generator().manual_seed(8))
    torch.testing.assert_close(out.y, label_smooth(soft, out.gamma))
    torch.testing.assert_close(out.y.sum(-1), torch.ones(32))
    assert Mollifier(label_form="none")(x, soft).y is soft


def test_same_seed_same_batch_and_different_seed_different_batch():
    mollifier = Mollifier(num_classes=10)
    x, y = batch()
    first = mollifier(x, y, torch.Generator().manual_seed(9))
    again = mollifier(x, y, torch.Generator().manual_seed(9))
    other = mollifier(x, y, torch.Generator().manual_seed(10))
    for field in dataclasses.fields(MollifiedBatch):
        assert torch.equal(getattr(first, field.name), getattr(again, field.name)), field.name
    assert not torch.equal(first.x, other.x)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_dtypes_and_devices_of_outputs(dtype):
    x, y = batch(dtype=dtype)
    out = Mollifier(num_classes=10)(x, y, torch.Generator().manual_seed(11))
    assert out.x.dtype == dtype and out.x.shape == x.shape and torch.isfinite(out.x.float()).all()
    assert out.roles.dtype == torch.int64
    expected = torch.float64 if dtype == torch.float64 else torch.float32
    assert out.t.dtype == out.gamma.dtype == out.y.dtype == expected
    for tensor in (out.x, out.y, out.roles, out.t, out.gamma):
        assert tensor.device == x.device


def test_mollifier_under_cpu_autocast_matches_float32():
    x, y = batch()
    mollifier = Mollifier(num_classes=10)
    expected = mollifier(x, y, torch.Generator().manual_seed(12))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = mollifier(x, y, torch.Generator().manual_seed(12))
    assert out.x.dtype == torch.float32
    torch.testing.assert_close(out.x, expected.x, atol=1e-6, rtol=0)


def test_mollifier_never_reads_device_values_on_the_host():
    # The accelerator path (the default off the CPU), forced here on the CPU.
    x, y = batch()
    mollifier = Mollifier(num_classes=10, transform_selected=False)
    with SyncRecorder() as recorder:
        mollifier(x, y, torch.Generator().manual_seed(13), validate_targets=False)
    assert recorder.syncs == []
    # The recorder does see the value checks of the public kernels (validate=True).
    with SyncRecorder() as recorder:
        noise(x, torch.full((64,), 0.5))
        x[y > 4]
    assert any("_local_scalar_dense" in op for op in recorder.syncs)
    assert any("boolean mask" in op for op in recorder.syncs)


def test_async_target_checks_need_no_host_synchronisation():
    # What the Mollifier does by default off the CPU: the target checks are enqueued
    # on the device (torch._assert_async) instead of read back by the host.
    x, y = batch()
    mollifier = Mollifier(num_classes=10, transform_selected=False)
    soft = torch.full((64, 10), 0.1)
    for targets in (y, F.one_hot(y, 10), soft):
        with SyncRecorder() as recorder:
            out = mollifier(x, targets, torch.Generator().manual_seed(13), validate_targets="async")
        assert recorder.syncs == []
        assert any("_assert_async" in op for op in recorder.ops)
        expected = mollifier(x, targets, torch.Generator().manual_seed(13))
        assert torch.equal(out.y, expected.y)
    # On the CPU a failed device check raises at once; on CUDA the stream fails.
    bad = [(torch.full((64,), 10), r"\[0, 10\)"), (torch.full((64, 10), 0.2), "sum to 1")]
    for targets, message in bad:
        with pytest.raises(RuntimeError, match=message):
            mollifier(x, targets, validate_targets="async")
        mollifier(x, targets, validate_targets=False)  # explicitly unchecked
    with pytest.raises(ValueError, match="'async'"):
        mollifier(x, y, validate_targets="later")


def test_integer_onehot_targets_equal_class_indices():
    x, y = batch()
    mollifier = Mollifier(num_classes=10)
    expected = mollifier(x, y, torch.Generator().manual_seed(3))
    out = mollifier(x, F.one_hot(y, 10), torch.Generator().manual_seed(3))
    assert out.y.dtype == torch.float32 and torch.equal(out.y, expected.y)
    assert torch.equal(out.x, expected.x)
    with pytest.raises(ValueError, match="one-hot"):
        mollifier(x, F.one_hot(y, 10) * 2)


def test_only_clean_roles_returns_inputs():
    x, y = batch(size=8)
    out = Mollifier(roles=("clean",), num_classes=10)(x, y)
    assert out.x is x and (out.roles == 0).all() and (out.t == 0).all() and (out.gamma == 0).all()


BAD_CALLS = [
    # (x, y, error, message fragment)
    (
        torch.zeros(4, 3, 8, 8, dtype=torch.uint8),
        torch.zeros(4, dtype=torch.int64),
        TypeError,
        "uint8",
    ),
    (torch.zeros(3, 8, 8), torch.zeros(3, dtype=torch.int64), ValueError, r"\(3, 8, 8\)"),
    (
        torch.zeros(2, 4, 3, 8, 8),
        torch.zeros(2, dtype=torch.int64),
        ValueError,
        r"\(2, 4, 3, 8, 8\)",
    ),
    (torch.zeros(4, 3, 8, 8), torch.zeros(5, dtype=torch.int64), ValueError, r"\(5,\)"),
    (torch.zeros(4, 3, 8, 8), torch.zeros((), dtype=torch.int64), ValueError, r"\(\)"),
    (torch.zeros(4, 3, 8, 8), torch.full((4,), 10), ValueError, r"\[0, 10\)"),
    (torch.zeros(4, 3, 8, 8), torch.full((4, 10), 0.2), ValueError, "sum to 1"),
    (torch.zeros(4, 3, 8, 8), torch.ones(4, 10, dtype=torch.int64), ValueError, "one-hot"),
    (torch.zeros(4, 3, 8, 8), torch.eye(4, 5, dtype=torch.int64), ValueError, "num_classes=10"),
    (torch.zeros(4, 3, 8, 8), [0, 1, 2, 3], TypeError, "list"),
]


@pytest.mark.parametrize("x, y, error, message", BAD_CALLS)
def test_mollifier_rejects_bad_batches(x, y, error, message):
    with pytest.raises(error, match=message):
        Mollifier(num_classes=10)(x, y)


def test_mollifier_needs_num_classes_for_indices():
    x, y = batch(size=4)
    with pytest.raises(ValueError, match="num_classes is required"):
        Mollifier()(x, y)


# --------------------------------------------------------------------------- config
def test_config_defaults_are_the_paper_settings():
    config = MollifyConfig()
    assert config.enabled and config.roles == ROLE_NAMES and config.weights is None
    assert (config.alpha, config.beta, config.k_noise, config.k_blur) == (1.0, 2.0, 1.0, 1.0)
    assert (config.sigma_min, config.sigma_max) == (0.3, None)


def test_config_from_yaml_accepts_lists_and_ints():
    text = """
    roles: [noise, blur]
    weights: [1, 3]
    alpha: 1
    beta: 3
    sigma_max: 16
    """
    config = MollifyConfig(**yaml.safe_load(text))
    assert config.roles == ("noise", "blur") and config.weights == (1.0, 3.0)
    assert isinstance(config.alpha, float) and config.sigma_max == 16.0
    assert hash(config) == hash(MollifyConfig(**yaml.safe_load(text)))
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.alpha = 2.0  # type: ignore[misc]


def test_build_and_create_mollifier():
    config = MollifyConfig(roles=["noise", "blur"], k_blur=2.0, sigma_max=8.0)
    mollifier = config.build("temper", num_classes=10)
    assert mollifier.label_form is LabelForm.TEMPER and mollifier.num_classes == 10
    assert mollifier.config == config
    assert "k_blur=2.0" in repr(mollifier)
    x, y = batch()
    out = create_mollifier(config, num_classes=10, label_form="temper")(x, y)
    assert (out.roles != Role.CLEAN).all()
    with pytest.raises(TypeError, match="MollifyConfig"):
        create_mollifier({"alpha": 1.0}, 10)


def test_disabled_config_builds_an_all_clean_mollifier():
    x, y = batch()
    out = MollifyConfig(enabled=False).build(num_classes=10)(x, y)
    assert out.x is x and (out.roles == Role.CLEAN).all() and torch.equal(out.y, torch.eye(10)[y])


def test_is_identity_when_the_only_role_is_clean():
    disabled = MollifyConfig(enabled=False, roles=["noise", "blur"], blur_schedule="png")
    mollifier = create_mollifier(disabled, 10, images=torch.zeros(2, 3, 8, 8))
    assert mollifier.is_identity and mollifier.config.roles == ("clean",)
    assert mollifier.blur_curve is None  # nothing measured
    assert MollifyConfig(enabled=False).build(num_classes=10).is_identity
    assert Mollifier(roles=["clean"], num_classes=10).is_identity
    # Zero-weight roles still cost a random draw per batch: not an identity.
    assert not Mollifier(weights=[1, 0, 0], num_classes=10).is_identity
    assert not Mollifier(num_classes=10).is_identity
    x, y = batch()
    generator = torch.Generator().manual_seed(3)
    state = generator.get_state()
    out = mollifier(x, y, generator)
    assert out.x is x and not out.t.any() and not out.gamma.any()
    assert torch.equal(generator.get_state(), state)  # nothing drawn


BAD_CONFIGS = [
    ({"beta": 0}, "beta"),
    ({"alpha": -1.0}, "alpha"),
    ({"alpha": math.nan}, "alpha"),
    ({"k_noise": 0.0}, "k_noise"),
    ({"k_blur": "fast"}, "k_blur"),
    ({"sigma_min": 0.0}, "sigma_min"),
    ({"sigma_max": 0.1}, "sigma_max"),
    ({"roles": ["nosie"]}, "nosie"),
    ({"roles": "noise"}, "roles"),
    ({"roles": []}, "roles"),
    ({"roles": ["noise", "noise"]}, "repeat"),
    ({"weights": [1.0, 2.0]}, "one entry per role"),
    ({"weights": [1.0, -1.0, 1.0]}, r"weights\[1\]"),
    ({"weights": [0, 0, 0]}, "all be zero"),
    ({"enabled": "yes"}, "enabled"),
    ({"alpha": True}, "alpha"),
    ({"blur_schedule": "jpeg"}, r"unknown blur_schedule 'jpeg'; choose one of 'power', 'png'"),
]


@pytest.mark.parametrize("fields, message", BAD_CONFIGS)
def test_config_rejects_bad_fields_naming_them(fields, message):
    with pytest.raises(ValueError, match=message):
        MollifyConfig(**fields)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"label_form": "smoothing"}, "smooth"),
        ({"num_classes": 0}, "num_classes"),
        ({"beta": -2}, "beta"),
    ],
)
def test_mollifier_rejects_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Mollifier(**kwargs)


# ------------------------------------------- measured PNG blur schedule (Eq. 13, erratum 1)
def clean_images(count=6, size=16, seed=0):
    """uint8 images with structure at several scales, so that blurring removes PNG bytes."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(count, 3, 4, 4, generator=generator)
    smooth = F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    fine = 0.15 * torch.rand(count, 3, size, size, generator=generator)
    return ((smooth + fine).clamp(0, 1) * 255).round().to(torch.uint8)


def test_png_schedule_gives_blurred_images_the_measured_gamma():
    curve = blur_information_curve(clean_images(), torch.linspace(0, 1, 11))
    mollifier = Mollifier(
        k_blur=1.5, blur_schedule="png", blur_curve=curve, num_classes=10, transform_selected=False
    )
    assert mollifier.config.blur_schedule == "png" and "blur_schedule='png'" in repr(mollifier)
    x, y = batch()
    with SyncRecorder() as recorder:
        out = mollifier(x, y, torch.Generator().manual_seed(5), validate_targets=False)
    assert recorder.syncs == []  # the table lookup happens on the device
    grid, levels = curve.schedule(1.5)
    blurred, noised, clean = (out.roles == role for role in (Role.BLUR, Role.NOISE, Role.CLEAN))
    assert blurred.any() and noised.any() and clean.any()
    expected = gamma_blur_table(out.t, grid, levels)
    torch.testing.assert_close(out.gamma[blurred], expected[blurred])
    assert not torch.allclose(out.gamma[blurred], gamma_blur(out.t[blurred], 1.5))
    torch.testing.assert_close(out.gamma[noised], gamma_noise(out.t[noised], 1.0))
    # gamma_png(0) > 0 (the sigma_min blur removes a little), yet clean images get 0.
    assert levels[0] > 0 and bool((out.gamma[clean] == 0).all())
    # Images and the noise/blur draws do not depend on the label schedule.
    power = Mollifier(k_blur=1.5, num_classes=10, transform_selected=False)(
        x, y, torch.Generator().manual_seed(5)
    )
    assert torch.equal(out.x, power.x) and torch.equal(out.t, power.t)
    # float64 images: the table is evaluated in float64.
    assert mollifier(x.double(), y).gamma.dtype == torch.float64


def test_png_schedule_needs_a_curve_and_power_refuses_one():
    curve = blur_information_curve(clean_images(count=2), torch.linspace(0, 1, 3))
    with pytest.raises(ValueError, match="needs blur_curve"):
        Mollifier(blur_schedule="png")
    with pytest.raises(ValueError, match="only used with blur_schedule='png'"):
        Mollifier(blur_curve=curve)
    with pytest.raises(TypeError, match="BlurInformationCurve"):
        Mollifier(blur_schedule="png", blur_curve=(curve.t, curve.size_ratio))
    with pytest.raises(ValueError, match="from 0 to 1"):
        Mollifier(
            blur_schedule="png",
            blur_curve=BlurInformationCurve(torch.tensor([0.0, 0.5]), torch.ones(2, 1)),
        )
    # Nothing is blurred: no curve needed.
    Mollifier(roles=("clean", "noise"), blur_schedule=BlurSchedule.PNG)
    MollifyConfig(enabled=False, blur_schedule="png").build(num_classes=10)


def test_create_mollifier_measures_the_png_curve_on_the_images():
    images = clean_images(count=10)
    config = MollifyConfig(blur_schedule="png", sigma_max=12.0)
    mollifier = create_mollifier(config, 10, images=images, curve_images=4)
    curve = mollifier.blur_curve
    assert torch.equal(curve.t, torch.linspace(0, 1, PNG_CURVE_POINTS))
    assert curve.size_ratio.shape == (PNG_CURVE_POINTS, 4)
    # Evenly spaced images (0, 3, 6, 9), measured with the config's blur scales.
    expected = blur_information_curve(images[[0, 3, 6, 9]], curve.t, 0.3, 12.0)
    torch.testing.assert_close(curve.size_ratio, expected.size_ratio)
    assert create_mollifier(config, 10, images=images).blur_curve.size_ratio.shape[1] == 10
    assert PNG_CURVE_IMAGES >= 100
    with pytest.raises(ValueError, match="clean training images"):
        create_mollifier(config, 10)
    with pytest.raises(ValueError, match="curve_images"):
        create_mollifier(config, 10, images=images, curve_images=0)
    # The power schedule, or no blurring, measures nothing.
    assert create_mollifier(MollifyConfig(), 10, images=images).blur_curve is None
    no_blur = MollifyConfig(roles=["clean", "noise"], blur_schedule="png")
    assert create_mollifier(no_blur, 10).blur_curve is None


def test_training_config_selects_the_png_schedule(tmp_path):
    overrides = [*TINY, f"out={tmp_path / 'run'}", "mollify.blur_schedule=png"]
    config = load_config(None, overrides)
    assert config.mollify.blur_schedule == "png"
    data = load_data(config, torch.device("cpu"), DistributedContext())
    trainer = Trainer(config, data, torch.device("cpu"), DistributedContext())
    curve = trainer.mollifier.blur_curve  # measured once, before training
    count = min(PNG_CURVE_IMAGES, data.train_images.shape[0])
    assert curve.size_ratio.shape == (PNG_CURVE_POINTS, count)
    assert trainer.mollifier.config == config.mollify
    default = Trainer(
        load_config(None, overrides[:-1]), data, torch.device("cpu"), DistributedContext()
    )
    assert (
        default.mollifier.config.blur_schedule == "power" and default.mollifier.blur_curve is None
    )
    with pytest.raises(ConfigError, match=r"mollify.*blur_schedule 'gif'.*'power', 'png'"):
        load_config(None, [*overrides[:-1], "mollify.blur_schedule=gif"])


@pytest.mark.parametrize("transform_selected", [True, False])
def test_both_paths_apply_the_same_kernels(transform_selected):
    # Selected-subset path (CPU default) and whole-batch path (accelerator default):
    # clean images untouched, blurred ones equal to blur() of the clean image, noised ones
    # equal to Eq. 4 with a standard normal epsilon.
    mollifier = Mollifier(num_classes=10, transform_selected=transform_selected)
    x, y = batch(size=600, height=8, width=8, dtype=torch.float64)
    out = mollifier(x, y, torch.Generator().manual_seed(21))
    clean, blurred, noised = (out.roles == role for role in (Role.CLEAN, Role.BLUR, Role.NOISE))
    assert clean.any() and blurred.any() and noised.any()
    assert torch.equal(out.x[clean], x[clean])
    torch.testing.assert_close(out.x[blurred], blur(x[blurred], out.t[blurred]))
    alpha, sigma = noise_coefficients(out.t[noised].reshape(-1, 1, 1, 1))
    epsilon = ((out.x[noised] - alpha * x[noised]) / sigma).flatten()
    assert scipy.stats.kstest(epsilon.numpy(), "norm").pvalue > 1e-3


def test_cpu_default_is_the_selected_subset_path():
    x, y = batch()
    seed = 22
    default = Mollifier(num_classes=10)(x, y, torch.Generator().manual_seed(seed))
    selected = Mollifier(num_classes=10, transform_selected=True)(
        x, y, torch.Generator().manual_seed(seed)
    )
    whole = Mollifier(num_classes=10, transform_selected=False)(
        x, y, torch.Generator().manual_seed(seed)
    )
    assert torch.equal(default.x, selected.x)
    # Same roles and temperatures; the noise draws differ (fewer are drawn).
    assert torch.equal(selected.roles, whole.roles) and torch.equal(selected.t, whole.t)
    assert not torch.equal(selected.x, whole.x)
    with pytest.raises(TypeError, match="transform_selected"):
        Mollifier(num_classes=10, transform_selected="yes")
