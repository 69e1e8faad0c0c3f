"""A small three-class problem and one NUTS fit of it, shared by the SVI and ArviZ tests."""

import pytest
import torch

from probmoll.bayes import sample_posterior

TOY_ROWS = 200
TOY_OPTIONS = {"num_classes": 3, "likelihood": "ce", "reference_class": 0}


def toy_data(num_rows: int = TOY_ROWS, seed: int = 0):
    """Three overlapping Gaussian classes in 2-D: features (N, 2) float64, labels (N,)."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(num_rows) % 3
    centres = torch.tensor([[1.5, 0.0], [-0.75, 1.3], [-0.75, -1.3]], dtype=torch.float64)
    noise = torch.randn(num_rows, 2, generator=generator, dtype=torch.float64)
    return centres[labels] + noise, labels


@pytest.fixture(scope="session")
def toy_nuts():
    """NUTS on the toy problem: two chains (for R-hat) of 100 warm-up steps and 60 draws."""
    features, labels = toy_data()
    posterior = sample_posterior(
        features, labels, num_samples=60, warmup=100, num_chains=2, seed=0, **TOY_OPTIONS
    )
    return features, labels, posterior
