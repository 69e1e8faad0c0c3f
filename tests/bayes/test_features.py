"""Penultimate features of a trained network (probmoll.bayes.features)."""

import numpy as np
import pytest
import torch

from probmoll import Mollify
from probmoll.bayes import extract_features, mollified_features
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


def test_mollified_features_are_k_major_copies_of_the_training_inputs(tmp_path):
    test = save_untrained_run(tmp_path, n=6, seed=0)
    images = np.asarray(test.images[:6])  # read-only, like a memory-mapped split
    labels = np.asarray(test.labels[:6])
    model = load_model(tmp_path / "checkpoint.pt")
    mollify = Mollify(num_classes=model.info["num_classes"])
    rows, targets = mollified_features(
        model,
        images,
        labels,
        mollify,
        copies=3,
        generator=torch.Generator().manual_seed(5),
        batch_size=4,
    )
    assert rows.shape[0] == targets.shape[0] == 18
    torch.testing.assert_close(targets.sum(-1), torch.ones(18))
    # By hand: the same generator draws, batch by batch, copy by copy (row k * N + n).
    generator = torch.Generator().manual_seed(5)
    expected_rows, expected_targets = [], []
    with torch.no_grad():
        for _ in range(3):
            for start in (0, 4):
                x = (
                    torch.from_numpy(np.array(images[start : start + 4]))
                    .permute(0, 3, 1, 2)
                    .float()
                    / 255
                )
                y = torch.from_numpy(np.array(labels[start : start + 4])).long()
                x, soft = mollify((x - model.mean) / model.std, y, generator=generator)
                expected_rows.append(model.network.forward_features(x))
                expected_targets.append(soft)
    torch.testing.assert_close(rows, torch.cat(expected_rows), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(targets, torch.cat(expected_targets))
    # Copies differ (random noise/blur amounts), and each row's target has its image's label
    # as the largest mass.
    assert not torch.allclose(rows[:6], rows[6:12])
    for k in range(3):
        assert (targets[k * 6 : (k + 1) * 6].argmax(-1).numpy() == labels).all()


def test_mollified_features_reject_bad_arguments(tmp_path):
    test = save_untrained_run(tmp_path, n=4, seed=0)
    images, labels = np.asarray(test.images[:4]), np.asarray(test.labels[:4])
    mollify = Mollify(num_classes=10)
    with pytest.raises(ValueError, match="copies"):
        mollified_features(tmp_path, images, labels, mollify, copies=0)
    with pytest.raises(ValueError, match="labels"):
        mollified_features(tmp_path, images, labels[:3], mollify, copies=1)
    with pytest.raises(ValueError, match="uint8"):
        mollified_features(tmp_path, images.astype(np.float32), labels, mollify, copies=1)
    with pytest.raises(ValueError, match="StandardizedModel"):
        mollified_features(torch.nn.Linear(2, 2), images, labels, mollify, copies=1)
