"""docs/recipes/plain-loop.md and the README's own-loop snippet: `Mollify` in a hand-written
training loop, for a few steps."""

import math
import re

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from probmoll import Mollify
from probmoll.augment import MixUp
from probmoll.likelihoods import LikelihoodConfig, Objective
from tests.helpers import REPO
from tests.recipes.helpers import RECIPES, check_recipe, seeded

PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def test_the_page_shows_three_changed_lines_and_this_test_runs_them():
    check_recipe("plain-loop.md", __file__)


def tiny_model():
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 10),
    )


def test_plain_loop_recipe():
    device = torch.device("cpu")
    with seeded(0):
        images, labels = torch.randn(24, 3, 16, 16), torch.randint(0, 10, (24,))
        loader = DataLoader(TensorDataset(images, labels), batch_size=8, shuffle=True)
        model = tiny_model().to(device)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        mollify = Mollify(num_classes=10)
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            x, y = mollify(x, y)
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            assert math.isfinite(loss.item()) and y.shape == (8, 10)
            torch.testing.assert_close(y.sum(1), torch.ones(8))
    assert mollify.last.gamma.shape == (8,)


def test_a_generator_makes_the_loop_reproducible_and_mixing_composes():
    x, y = torch.randn(8, 3, 16, 16), torch.randint(0, 10, (8,))
    mollify, mixup = Mollify(num_classes=10), MixUp(num_classes=10)
    runs = []
    for _ in range(2):
        generator = torch.Generator().manual_seed(3)
        runs.append(mollify(*mixup(x, y, generator), generator))
    assert torch.equal(runs[0][0], runs[1][0]) and torch.equal(runs[0][1], runs[1][1])


def test_the_other_likelihoods_block_of_the_page_runs():
    (block,) = PYTHON_BLOCK.findall((RECIPES / "plain-loop.md").read_text(encoding="utf-8"))
    with seeded(0):
        model = tiny_model()
        x, y = torch.randn(8, 3, 16, 16), torch.randint(0, 10, (8,))
        namespace = {"Objective": Objective, "LikelihoodConfig": LikelihoodConfig}
        namespace.update(Mollify=Mollify, model=model, x=x, y=y)
        exec(compile(block, str(RECIPES / "plain-loop.md"), "exec"), namespace)
    assert namespace["x"].shape == (32, 3, 16, 16) and namespace["y"].shape == (32, 10)
    assert math.isfinite(namespace["loss"].item())


def test_the_readme_own_loop_snippet_runs_as_written(capsys):
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("In your own loop") : text.index("## Where things are")]
    blocks = PYTHON_BLOCK.findall(section)
    assert len(blocks) == 2 and "from probmoll import Mollify" in blocks[0]
    namespace: dict = {"__name__": "readme"}
    with seeded(0):
        for block in blocks:  # in order, sharing a namespace, as a reader runs them
            exec(compile(block, "README.md", "exec"), namespace)
    assert math.isfinite(namespace["loss"].item())
    assert "tensor(" in capsys.readouterr().out
