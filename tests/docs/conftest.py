"""The example scripts of docs/examples/, each run once per test session in fast mode.

They run through ``docs/hooks.py``'s ``run_example``, the function the documentation
build runs them with, into one folder that the build test then publishes
(``PROBMOLL_DOCS_FIGURES``), so that no example runs twice in a session.
"""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
# Top-level modules the examples import from beside them and from paper_appendix/.
SHARED_MODULES = ("_shared", "_common", "appendix_c_partition", "appendix_d_bias")


@pytest.fixture(scope="session")
def hooks():
    spec = importlib.util.spec_from_file_location("probmoll_docs_hooks", ROOT / "docs/hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ExampleRuns:
    """Runs an example on first request and keeps its results (or its error)."""

    def __init__(self, hooks, folder: Path):
        self.hooks = hooks
        self.folder = folder
        self.results: dict[str, dict | BaseException] = {}

    def __call__(self, name: str) -> dict:
        if name not in self.results:
            # The legacy global generator is what pyro.set_rng_seed seeds.
            numpy_state = np.random.get_state()  # noqa: NPY002
            python_state = random.getstate()
            try:
                # The examples seed torch's, numpy's and Python's global generators
                # (NUTS does); the tests after them keep theirs.
                with torch.random.fork_rng(devices=[]):
                    self.results[name] = self.hooks.run_example(
                        self.hooks.EXAMPLES / f"{name}.py", self.folder
                    )
            except Exception as error:  # reported by every test that asks for it
                self.results[name] = error
            finally:
                np.random.set_state(numpy_state)  # noqa: NPY002
                random.setstate(python_state)
        result = self.results[name]
        if isinstance(result, BaseException):
            raise result
        return result


@pytest.fixture(scope="session")
def examples(hooks, tmp_path_factory):
    runs = ExampleRuns(hooks, tmp_path_factory.mktemp("example-figures"))
    yield runs
    for name in SHARED_MODULES:
        sys.modules.pop(name, None)
