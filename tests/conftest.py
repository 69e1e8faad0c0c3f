import pytest
import torch

# Keep the suite deterministic and light on this small machine.
# One thread: tiny test models run faster single-threaded, and pytest-xdist-free runs
# stay predictable on small machines.
torch.set_num_threads(1)


@pytest.fixture
def generator():
    return torch.Generator().manual_seed(0)
