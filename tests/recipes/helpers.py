"""Shared pieces of the recipe tests (imported by them; holds no tests itself).

Each page of docs/recipes/ shows, as a ``diff`` block, the lines that add mollification to
a library's usual training script; the test of that recipe runs those very lines on tiny
synthetic data, and :func:`check_recipe` keeps page and test in step.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

RECIPES = Path(__file__).resolve().parents[2] / "docs" / "recipes"
DIFF_BLOCK = re.compile(r"^```diff\n(.*?)^```", re.S | re.M)
MAX_CHANGED_LINES = 3


def recipe_diff(page: str) -> tuple[list[str], list[str]]:
    """Added and removed lines (without the ``+``/``-``, stripped) of ``page``'s diff block."""
    (block,) = DIFF_BLOCK.findall((RECIPES / page).read_text(encoding="utf-8"))
    lines = block.splitlines()
    added = [line[1:].strip() for line in lines if line.startswith("+")]
    removed = [line[1:].strip() for line in lines if line.startswith("-")]
    return added, removed


def check_recipe(page: str, test_file: str) -> None:
    """The recipe changes at most three lines, and its test runs every added line."""
    added, removed = recipe_diff(page)
    assert 1 <= len(added) <= MAX_CHANGED_LINES and len(removed) <= len(added), (added, removed)
    source = {line.strip() for line in Path(test_file).read_text(encoding="utf-8").splitlines()}
    assert [line for line in added if line not in source] == []


@contextmanager
def seeded(seed: int = 0) -> Iterator[None]:
    """torch's, numpy's and Python's global generators seeded, and restored afterwards
    (timm's ``Mixup`` draws from numpy's, torchvision's ``v2.MixUp`` from torch's)."""
    # The legacy global numpy state is the point here: timm's Mixup draws from it.
    numpy_state, python_state = np.random.get_state(), random.getstate()  # noqa: NPY002
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        np.random.seed(seed)  # noqa: NPY002
        random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(numpy_state)  # noqa: NPY002
            random.setstate(python_state)
