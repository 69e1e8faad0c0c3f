"""Load a paper_appendix script as a module and run it in fast mode into a temporary folder."""

import importlib.util
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture
def run_script(tmp_path, monkeypatch):
    # The scripts import `_common` (command line, tables, outputs), found next to them.
    monkeypatch.syspath_prepend(str(HERE))

    def run(name: str) -> tuple[dict, Path]:
        spec = importlib.util.spec_from_file_location(f"paper_appendix_{name}", HERE / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        results = module.main(["--fast", "--out", str(tmp_path)])
        return results, tmp_path

    yield run
    sys.modules.pop("_common", None)
