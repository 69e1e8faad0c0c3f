"""load_model: a checkpoint's network behind its standardisation, taking images in [0, 1]."""

import pytest
import torch
from torch import nn

from probmoll.models import (
    StandardizedModel,
    create_model,
    data_info,
    load_checkpoint,
    load_model,
    save_checkpoint,
)
from tests.helpers import run_python

MEAN = (0.49, 0.48, 0.45)
STD = (0.25, 0.24, 0.26)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run folder whose checkpoint holds a preact-ResNet with non-trivial BatchNorm
    statistics (as after training)."""
    folder = tmp_path_factory.mktemp("run")
    torch.manual_seed(0)
    kwargs = {"num_classes": 5, "in_channels": 3, "image_size": 32, "width": 4}
    network = create_model("preact_resnet18", **kwargs)
    network.train()
    with torch.no_grad():
        for _ in range(2):
            network(torch.randn(16, 3, 32, 32) * 1.5 + 0.3)
    save_checkpoint(
        folder / "checkpoint.pt",
        model=network,
        model_name="preact_resnet18",
        model_kwargs=kwargs,
        data=data_info("cifar10", 5, 3, 32, MEAN, STD, classes=list("abcde")),
    )
    return folder


def test_logits_equal_the_network_on_standardised_images(run_dir):
    model = load_model(run_dir)
    assert isinstance(model, nn.Module) and not model.training
    assert not any(m.training for m in model.modules())
    images = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    x = images.float() / 255
    # Standardised by hand, in float64, with the checkpoint's statistics.
    mean = torch.tensor(MEAN, dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor(STD, dtype=torch.float64).view(1, 3, 1, 1)
    standardised = ((images.double() / 255 - mean) / std).float()
    network = load_model(load_checkpoint(run_dir)).network
    with torch.no_grad():
        logits = model(x)
        expected = network.eval()(standardised)
    assert logits.shape == (6, 5)
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-5)
    # Without the standardisation the logits are another function of the images.
    with torch.no_grad():
        assert not torch.allclose(network(x), expected, atol=1e-2)


def test_info_buffers_and_checkpoint_file(run_dir):
    model = load_model(run_dir / "checkpoint.pt")
    assert model.info["num_classes"] == 5 and model.info["classes"] == list("abcde")
    assert model.info["model_name"] == "preact_resnet18"
    assert model.mean.flatten().tolist() == pytest.approx(MEAN)
    assert model.std.flatten().tolist() == pytest.approx(STD)
    # mean/std are buffers: they travel with .to() and the state dict.
    assert {"mean", "std"} <= set(model.state_dict())
    assert model.to(torch.float64).mean.dtype == torch.float64


def test_forward_features_when_the_network_has_it(run_dir):
    model = load_model(run_dir)
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        features = model.forward_features(x)
        assert torch.equal(model.network.fc(features), model(x))
    plain = StandardizedModel(nn.Sequential(nn.Flatten(), nn.Linear(12, 2)), [0.5], [0.2])
    assert not hasattr(plain, "forward_features")
    with pytest.raises(AttributeError, match="forward_features"):
        plain.forward_features(torch.rand(1, 1, 2, 6))


@pytest.mark.parametrize(
    "x,error,match",
    [
        (
            torch.zeros(2, 3, 32, 32, dtype=torch.uint8),
            TypeError,
            r"float images.*x.float\(\) / 255",
        ),
        (torch.zeros(2, 3, 32, 32, dtype=torch.int64), TypeError, "float images in"),
        (torch.rand(2, 1, 32, 32), ValueError, r"C = 3 channels, got \(2, 1, 32, 32\)"),
        (torch.rand(3, 32, 32), ValueError, r"\(B, C, H, W\).*got \(3, 32, 32\)"),
        (torch.rand(2, 32, 32, 3), ValueError, "C = 3 channels"),
    ],
    ids=["uint8", "int64", "grey", "unbatched", "channels-last-array"],
)
def test_wrong_inputs_are_refused_clearly(run_dir, x, error, match):
    with pytest.raises(error, match=match):
        load_model(run_dir)(x)


@pytest.mark.parametrize(
    "mean,std,match",
    [((0.5, 0.5), (0.2,), "one entry per channel"), ((0.5,), (0.0,), "std must be positive")],
)
def test_bad_statistics_are_refused(mean, std, match):
    with pytest.raises(ValueError, match=match):
        StandardizedModel(nn.Identity(), mean, std)


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="holds no checkpoint.pt"):
        load_model(tmp_path)


def test_probmoll_exports_load_model_lazily():
    import probmoll

    assert "load_model" in probmoll.__all__
    assert probmoll.load_model is load_model
    # The export imports nothing before it is used: `import probmoll` stays torch-free.
    result = run_python('import sys, probmoll; assert "torch" not in sys.modules')
    assert result.returncode == 0, result.stderr
