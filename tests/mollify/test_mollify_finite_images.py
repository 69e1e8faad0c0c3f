"""The Mollifier refuses images that hold NaN or infinite values, on both of its paths."""

import pytest
import torch

from probmoll.mollify import Mollifier
from tests.helpers import SyncRecorder

ROLE_SETS = [("clean", "noise", "blur"), ("clean",), ("noise",), ("blur",)]


def batch_with(value, images=(2, 5), size=8):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(size, 3, 6, 6, generator=generator)
    for index in images:
        x[index, 1, 2, 3] = value
    return x, torch.arange(size) % 10


@pytest.mark.parametrize("roles", ROLE_SETS)
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_images_raise_on_the_cpu(roles, value):
    x, y = batch_with(value)
    mollifier = Mollifier(roles=roles, num_classes=10)
    with pytest.raises(ValueError, match=r"Mollifier: images must be finite.*images \[2, 5\]"):
        mollifier(x, y, torch.Generator().manual_seed(1))


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_non_finite_images_raise_in_every_dtype(dtype):
    x, y = batch_with(float("nan"), images=(7,))
    with pytest.raises(ValueError, match=r"images \[7\]"):
        Mollifier(num_classes=10)(x.to(dtype), y)


def test_the_branch_free_path_asserts_on_the_device():
    # The accelerator path, forced on the CPU: a device-side assertion, which raises
    # at once on the CPU (on CUDA the stream fails at the next synchronisation).
    mollifier = Mollifier(num_classes=10, transform_selected=False)
    x, y = batch_with(float("nan"))
    with pytest.raises(RuntimeError, match="Mollifier: images must be finite"):
        mollifier(x, y, validate_targets=False)
    x, y = batch_with(0.5)
    with SyncRecorder() as recorder:
        mollifier(x, y, torch.Generator().manual_seed(1), validate_targets=False)
    assert recorder.syncs == []
    assert any("_assert_async" in op for op in recorder.ops)


def test_finite_images_pass_unchanged():
    x, y = batch_with(1e30)  # large but finite
    out = Mollifier(roles=("clean",), num_classes=10)(x, y)
    assert out.x is x
    assert torch.isfinite(Mollifier(num_classes=10)(x, y).x).all()
