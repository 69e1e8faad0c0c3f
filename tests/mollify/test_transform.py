"""`Mollify`: the drop-in batch transform ``x, y = mollify(x, y)``."""

import pickle
import re
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torchvision.transforms import v2

import probmoll
from probmoll.augment import mixup, to_soft_targets
from probmoll.mollify import Mollifier, Mollify, MollifyConfig, MollifyDraw, blur_information_curve
from probmoll.mollify.transform import Mollify as DefinedMollify
from tests.helpers import REPO, SyncRecorder


def batch(size=32, channels=3, height=8, width=8, num_classes=10, seed=0, dtype=torch.float32):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(size, channels, height, width, generator=generator).to(dtype)
    y = torch.randint(0, num_classes, (size,), generator=generator)
    return x, y


def soft_targets(size, num_classes, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return F.softmax(torch.randn(size, num_classes, generator=generator) * 3, dim=1)


def test_exported_from_the_package_root_without_importing_torch():
    assert probmoll.Mollify is Mollify is DefinedMollify
    assert "Mollify" in dir(probmoll) and "Mollify" in probmoll.__all__
    code = "import sys, probmoll; print('Mollify' in dir(probmoll), 'torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert result.stdout.split() == ["True", "False"]


OPTIONS = [
    {},
    {"roles": ("noise",), "alpha": 2.0, "beta": 1.0, "k_noise": 2.0},
    {"roles": ("clean", "blur"), "weights": (1, 3), "k_blur": 0.5, "sigma_max": 4.0},
    {"label_form": "temper"},
    {"label_form": "none"},
    {"transform_selected": False},
]


@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("soft", [False, True])
def test_outputs_equal_the_mollifiers_on_the_same_generator_state(options, soft):
    x, y = batch()
    if soft:
        y = soft_targets(32, 10)
    expected = Mollifier(num_classes=10, **options)(x, y, torch.Generator().manual_seed(3))
    mollify = Mollify(num_classes=10, **options)
    images, targets = mollify(x, y, torch.Generator().manual_seed(3))
    assert torch.equal(images, expected.x) and torch.equal(targets, expected.y)
    draw = mollify.last
    assert isinstance(draw, MollifyDraw)
    for name in ("roles", "t", "gamma"):
        assert torch.equal(getattr(draw, name), getattr(expected, name))
    # Without a generator both draw from torch's global one.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(5)
        expected = Mollifier(num_classes=10, **options)(x, y)
        torch.manual_seed(5)
        images, targets = mollify(x, y)
    assert torch.equal(images, expected.x) and torch.equal(targets, expected.y)


def test_targets_are_the_given_targets_smoothed_by_gamma():
    # Eq. 8 written out: (1 - gamma) y + gamma / C, with y one-hot or soft.
    x, y = batch()
    mollify = Mollify(num_classes=10)
    _, targets = mollify(x, y, torch.Generator().manual_seed(0))
    gamma = mollify.last.gamma.unsqueeze(1)
    torch.testing.assert_close(targets, (1 - gamma) * F.one_hot(y, 10) + gamma / 10)
    assert bool((mollify.last.gamma > 0).any())
    soft = soft_targets(32, 10)
    _, targets = mollify(x, soft, torch.Generator().manual_seed(0))
    gamma = mollify.last.gamma.unsqueeze(1)
    torch.testing.assert_close(targets, (1 - gamma) * soft + gamma / 10)
    torch.testing.assert_close(targets.sum(1), torch.ones(32))
    # Tempering leaves rows summing to 1 - gamma (Eq. 7).
    tempered = Mollify(num_classes=10, label_form="temper")
    _, targets = tempered(x, y, torch.Generator().manual_seed(0))
    torch.testing.assert_close(targets.sum(1), 1 - tempered.last.gamma)


@given(
    size=st.integers(1, 12),
    num_classes=st.integers(1, 30),
    seed=st.integers(0, 2**31 - 1),
    soft=st.booleans(),
    label_form=st.sampled_from(["smooth", "none"]),
    dtype=st.sampled_from([torch.float32, torch.float64]),
)
@settings(max_examples=60, deadline=None)
def test_soft_targets_lie_on_the_simplex(size, num_classes, seed, soft, label_form, dtype):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(size, 3, 4, 4, generator=generator, dtype=dtype)
    x[0, 0, 0, 0] = -1.0  # standardised: at least one negative value
    if soft:
        logits = torch.randn(size, num_classes, generator=generator, dtype=dtype) * 5
        y = F.softmax(logits, dim=1)
    else:
        y = torch.randint(0, num_classes, (size,), generator=generator)
    mollify = Mollify(num_classes=num_classes, label_form=label_form)
    images, targets = mollify(x, y, generator)
    assert images.shape == x.shape and images.dtype == dtype
    assert targets.shape == (size, num_classes) and targets.dtype == dtype
    assert bool((targets >= 0).all())
    torch.testing.assert_close(targets.sum(1), torch.ones(size, dtype=dtype))


def test_composes_after_torchvision_mixup_as_the_engine_does():
    # The engine: mixing on standardised images (soft targets), then the Mollifier on
    # the mixed batch (probmoll/train/trainer.py, prepare_batch). torchvision's MixUp
    # pairs image i with image i - 1 and draws lambda from torch's global generator.
    x, y = batch()
    mixing = v2.MixUp(alpha=0.8, num_classes=10)
    mollify = Mollify(num_classes=10)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(11)
        images, targets = mollify(*mixing(x, y), torch.Generator().manual_seed(4))
        torch.manual_seed(11)
        weight = torch.distributions.Beta(torch.tensor([0.8]), torch.tensor([0.8])).sample(())
    partner = torch.arange(32).roll(1)
    mixed_x, mixed_y = mixup(x, to_soft_targets(y, 10), weight.expand(32), partner)
    expected = Mollifier(num_classes=10)(mixed_x, mixed_y, torch.Generator().manual_seed(4))
    torch.testing.assert_close(images, expected.x)
    torch.testing.assert_close(targets, expected.y)
    assert 0 < float(weight) < 1 and not torch.equal(mixed_x, x)
    # And after CutMix: its soft targets are smoothed in the same way.
    cut_x, cut_y = v2.CutMix(num_classes=10)(x, y)
    images, targets = mollify(cut_x, cut_y, torch.Generator().manual_seed(4))
    gamma = mollify.last.gamma.unsqueeze(1)
    torch.testing.assert_close(targets, (1 - gamma) * cut_y + gamma / 10)


def test_pickling_round_trip():
    x, y = batch()
    mollify = Mollify(num_classes=10, roles=("noise", "blur"), alpha=2.0, label_form="temper")
    mollify(x, y)
    copy = pickle.loads(pickle.dumps(mollify))
    assert copy.last is None and mollify.last is not None  # a draw stays in its process
    assert repr(copy) == repr(mollify)
    first = mollify(x, y, torch.Generator().manual_seed(9))
    second = copy(x, y, torch.Generator().manual_seed(9))
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


def test_return_info_and_the_last_draw():
    x, y = batch()
    mollify = Mollify(num_classes=10)
    assert mollify.last is None
    images, targets, draw = mollify(x, y, torch.Generator().manual_seed(2), return_info=True)
    assert draw is mollify.last and draw.roles.shape == draw.t.shape == draw.gamma.shape == (32,)
    assert MollifyDraw.role_names == ("clean", "noise", "blur")
    assert bool((draw.t[draw.roles == 0] == 0).all())
    assert torch.equal(images[draw.roles == 0], x[draw.roles == 0])  # clean images untouched
    again = mollify(x, y, torch.Generator().manual_seed(2))
    assert torch.equal(again[0], images) and torch.equal(again[1], targets)


def test_from_config():
    x, y = batch()
    config = MollifyConfig(weights=[2, 1, 1], k_noise=0.5)
    built = Mollify.from_config(config, 10)
    direct = Mollify(num_classes=10, weights=(2, 1, 1), k_noise=0.5)
    assert repr(built) == repr(direct)
    first = built(x, y, torch.Generator().manual_seed(1))
    second = direct(x, y, torch.Generator().manual_seed(1))
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    off = Mollify.from_config(MollifyConfig(enabled=False), 10)
    images, targets = off(x, y)
    assert torch.equal(images, x) and torch.equal(targets, F.one_hot(y, 10).float())
    # The measured PNG blur schedule, from clean uint8 images.
    clean = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8)
    curve = blur_information_curve(clean, torch.linspace(0, 1, 5), 0.3, 8)
    png = Mollify.from_config(MollifyConfig(blur_schedule="png"), 10, blur_curve=curve)
    assert png.mollifier.blur_curve is curve


def test_the_async_checks_need_no_host_synchronisation():
    # The default off the CPU, forced here on CPU tensors.
    x, y = batch()
    mollify = Mollify(num_classes=10, validate="async", transform_selected=False)
    with SyncRecorder() as recorder:
        mollify(x, y, torch.Generator().manual_seed(0))
    assert recorder.syncs == [] and any("_assert_async" in op for op in recorder.ops)
    with pytest.raises(RuntimeError, match="unstandardised"):
        mollify(x.abs(), y)
    with pytest.raises(RuntimeError, match=re.escape("[0, 10)")):
        mollify(x, y + 10)


GOOD_X, GOOD_Y = batch(size=4)
# Rows that sum to 1 with one negative entry each.
NEGATIVE_ENTRY = 1.1 * F.one_hot(GOOD_Y, 10) - 0.1 * F.one_hot((GOOD_Y + 1) % 10, 10)
BAD_INPUTS = {
    # name: (images, labels, error type, message)
    "one image": (
        GOOD_X[0],
        GOOD_Y,
        ValueError,
        r"expected images \(B, C, H, W\), got shape \(3, 8, 8\)",
    ),
    "5-d": (GOOD_X[None], GOOD_Y, ValueError, r"expected images \(B, C, H, W\)"),
    "2-d": (GOOD_X[:, 0, 0], GOOD_Y, ValueError, "at least 3 dimensions"),
    "uint8": ((GOOD_X * 255).to(torch.uint8), GOOD_Y, TypeError, r"x\.float\(\) / 255"),
    "int64": (torch.zeros(4, 3, 8, 8, dtype=torch.int64), GOOD_Y, TypeError, "torch.int64"),
    "numpy": (GOOD_X.numpy(), GOOD_Y, TypeError, "expected a torch.Tensor"),
    "in [0, 1]": (torch.rand(4, 3, 8, 8), GOOD_Y, ValueError, r"unstandardised.*\[0, 1\]"),
    "in [0, 255]": (torch.rand(4, 3, 8, 8) * 255, GOOD_Y, ValueError, "check_standardised=False"),
    "label too large": (GOOD_X, torch.tensor([0, 1, 10, 3]), ValueError, r"\[0, 10\), got \[10\]"),
    "negative label": (GOOD_X, torch.tensor([0, -1, 2, 3]), ValueError, r"\[0, 10\), got \[-1\]"),
    "rows off the simplex": (GOOD_X, torch.full((4, 10), 0.2), ValueError, "sum to 1.*row sums"),
    "negative entry": (GOOD_X, NEGATIVE_ENTRY, ValueError, r"non-negative, got entries \[-0\.1"),
    "wrong num_classes": (
        GOOD_X,
        torch.full((4, 5), 0.2),
        ValueError,
        "5 classes but num_classes=10",
    ),
    "batch sizes differ": (GOOD_X, GOOD_Y[:3], ValueError, r"batch size.*\(4, 3, 8, 8\).*\(3,\)"),
    "float indices": (GOOD_X, GOOD_Y.float(), ValueError, r"soft targets must have shape \(B, C\)"),
    "list labels": (GOOD_X, GOOD_Y.tolist(), TypeError, "targets must be a torch.Tensor"),
    "NaN": (GOOD_X.clone().fill_(float("nan")), GOOD_Y, ValueError, "must be finite"),
}


@pytest.mark.parametrize("x, y, error, message", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_inputs_are_refused_with_one_clear_message(x, y, error, message):
    mollify = Mollify(num_classes=10)
    generator = torch.Generator().manual_seed(0)
    state = generator.get_state()
    with pytest.raises(error, match=message):
        mollify(x, y, generator)
    assert torch.equal(generator.get_state(), state)  # a refused call draws nothing
    assert mollify.last is None


def test_the_standardisation_check_can_be_turned_off():
    images = torch.rand(4, 3, 8, 8)
    mollify = Mollify(num_classes=10, check_standardised=False)
    out, _ = mollify(images, GOOD_Y)
    assert out.shape == images.shape
    # One negative value is enough to pass the rule.
    images[0, 0, 0, 0] = -0.1
    Mollify(num_classes=10)(images, GOOD_Y)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"num_classes": None}, ValueError, "num_classes must be a positive integer, got None"),
        ({"num_classes": 0}, ValueError, "num_classes must be a positive integer"),
        ({"num_classes": True}, ValueError, "num_classes must be a positive integer"),
        ({"num_classes": 10, "alpha": 0}, ValueError, "alpha must be finite and > 0"),
        ({"num_classes": 10, "roles": ["fog"]}, ValueError, "unknown role 'fog'"),
        ({"num_classes": 10, "label_form": "sharpen"}, ValueError, "label_form"),
        ({"num_classes": 10, "validate": "later"}, ValueError, "'async'"),
        ({"num_classes": 10, "check_standardised": 1}, TypeError, "check_standardised"),
        ({"num_classes": 10, "nonsense": 1}, TypeError, "nonsense"),
    ],
)
def test_bad_settings_are_refused(kwargs, error, message):
    with pytest.raises(error, match=message):
        Mollify(**kwargs)


def test_a_generator_on_another_device_is_refused():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    with pytest.raises(ValueError, match="generator is on cuda"):
        Mollify(num_classes=10)(GOOD_X, GOOD_Y, torch.Generator("cuda"))


def test_runs_on_cuda_tensors():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    x, y = batch()
    mollify = Mollify(num_classes=10)
    generator = torch.Generator("cuda").manual_seed(0)
    images, targets = mollify(x.cuda(), y.cuda(), generator)
    assert images.device.type == targets.device.type == mollify.last.gamma.device.type == "cuda"
    torch.testing.assert_close(targets.sum(1), torch.ones(32, device="cuda"))
    expected = Mollifier(num_classes=10)(x.cuda(), y.cuda(), torch.Generator("cuda").manual_seed(0))
    assert torch.equal(images, expected.x) and torch.equal(targets, expected.y)
    checked = Mollify(num_classes=10, validate=True)
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        checked(x.cuda(), (y + 10).cuda())
    with pytest.raises(ValueError, match="unstandardised"):
        checked(x.abs().cuda(), y.cuda())


def test_repr():
    assert repr(Mollify(num_classes=10, alpha=2.0)) == (
        "Mollify(roles=('clean', 'noise', 'blur'), weights=None, alpha=2.0, beta=2.0, "
        "k_noise=1.0, k_blur=1.0, sigma_min=0.3, sigma_max=None, blur_schedule='power', "
        "label_form='smooth', num_classes=10, check_standardised=True)"
    )
