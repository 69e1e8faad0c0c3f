"""Penultimate features of a trained network (probmoll.bayes.features)."""

import numpy as np
import pytest
import torch

from probmoll.bayes import extract_features
from probmoll.models import load_model
from tests.evaluate.helpers import save_untrained_run


def test_features_of_clean_and_corrupted_images_match_one_pass(tmp_path):
    test = save_untrained_run(tmp_path, n=10, seed=0, confident=True)
    clean = np.asarray(test.images[:10])  # read-only, like a memory-mapped split
    corrupted = (255 - clean).astype(np.uint8)
    features = extract_features(
        tmp_path, {"clean": clean, "corrupted": corrupted}, batch_size=4, device="cpu"
    )
    model = load_model(tmp_path / "checkpoint.pt")
    with torch.no_grad():
        for name, images in (("clean", clean), ("corrupted", corrupted)):
            x = torch.from_numpy(np.array(images)).permute(0, 3, 1, 2).float() / 255
            expected = model.network.forward_features((x - model.mean) / model.std)
            assert features[name].shape == expected.shape
            assert features[name].dtype == torch.float32
            torch.testing.assert_close(features[name], expected, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(features["clean"], features["corrupted"])
    # A single array and an already loaded model give the same features.
    single = extract_features(model, clean, batch_size=3)
    torch.testing.assert_close(single, features["clean"], rtol=1e-5, atol=1e-5)


def test_extract_features_rejects_bad_images(tmp_path):
    save_untrained_run(tmp_path, n=4, seed=0)
    with pytest.raises(ValueError, match="uint8"):
        extract_features(tmp_path, np.zeros((2, 32, 32, 3), np.float32))
    with pytest.raises(ValueError, match="batch_size"):
        extract_features(tmp_path, np.zeros((2, 32, 32, 3), np.uint8), batch_size=0)
