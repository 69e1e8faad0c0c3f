"""evaluate_model without mean/std: any module that takes images in [0, 1]."""

import numpy as np
import pytest
import torch
from scipy.special import log_softmax

from probmoll.data.corruptions import CorruptedDataset
from probmoll.evaluate import evaluate_model
from probmoll.models import load_model, model_from_checkpoint
from tests.evaluate.helpers import Split, make_split, save_untrained_run


def write_corruptions(folder, split, seed=0):
    """A CIFAR-10-C-layout set of ``split``'s images with noise growing with severity."""
    rng = np.random.default_rng(seed)
    folder.mkdir()
    blocks = []
    for severity in range(1, 6):
        noise = rng.normal(0, 12 * severity, split.images.shape)
        blocks.append(np.clip(split.images + noise, 0, 255).astype(np.uint8))
    np.save(folder / "gaussian_noise.npy", np.concatenate(blocks))
    np.save(folder / "labels.npy", np.tile(split.labels, 5))
    return CorruptedDataset(folder)


def test_a_plain_torchvision_model_is_fed_images_in_the_unit_range():
    from torchvision.models import resnet18

    torch.manual_seed(0)
    model = resnet18(num_classes=4).eval()
    split = make_split(n=24, size=32)
    results = evaluate_model(model, split, None, batch_size=7, progress=False)
    # By hand: x / 255, the whole split at once, metrics in numpy.
    x = torch.from_numpy(split.images.transpose(0, 3, 1, 2).astype(np.float32) / 255)
    with torch.no_grad():
        logits = model(x).double().numpy()
    log_p = log_softmax(logits, axis=1)
    rows = np.arange(len(split.labels))
    clean = results["clean"]
    assert clean["error"] == pytest.approx(np.mean(logits.argmax(1) != split.labels), abs=1e-12)
    assert clean["nll"] == pytest.approx(-log_p[rows, split.labels].mean(), rel=1e-5)
    assert results["settings"]["mean"] is None and results["settings"]["std"] is None


def test_load_model_gives_the_numbers_of_the_network_with_its_statistics(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    test = save_untrained_run(run, n=40, seed=3, confident=True)
    clean = Split(test.images, test.labels)
    corrupted = write_corruptions(tmp_path / "set", clean)
    options = dict(batch_size=16, device="cpu", progress=False)

    wrapped = evaluate_model(load_model(run), clean, corrupted, **options)
    network, info = model_from_checkpoint(run)
    direct = evaluate_model(
        network, clean, corrupted, mean=info["mean"], std=info["std"], **options
    )
    for section in ("clean", "corrupted", "reliability"):
        assert wrapped[section] == direct[section], section
    assert direct["settings"]["mean"] == pytest.approx(info["mean"])
    # The check has teeth: fed to the raw network, images in [0, 1] give other numbers.
    unit = evaluate_model(network, clean, corrupted, **options)
    assert unit["clean"]["nll"] != pytest.approx(direct["clean"]["nll"], rel=1e-3)


@pytest.mark.parametrize("given", [{"mean": (0.5,) * 3}, {"std": (0.2,) * 3}])
def test_mean_without_std_is_refused(given):
    with pytest.raises(ValueError, match="both mean and std, or neither"):
        evaluate_model(torch.nn.Identity(), make_split(n=4), None, progress=False, **given)
