"""MkDocs hooks of the probmoll site (``hooks:`` in mkdocs.yml).

- Repository files that pages show but that live outside docs/ (the benchmarks' recorded
  numbers, the experiment map, the results report and its figures, the paper_appendix
  scripts and their figures) are published under ``repository/`` at their repository
  paths, so that links to them are checked like any other link by
  ``mkdocs build --strict``.
- Every example script of docs/examples/ runs in fast mode at each build and its figures
  are published under ``examples/figures/``: the figures the pages show are always
  those of the current code (none is committed), and a script that fails, or a figure a
  page names that no script draws, fails the build. ``PROBMOLL_DOCS_FIGURES`` names a
  folder of outputs of those same fast runs to publish instead (the test suite's).
- Snippets (``--8<--``) and the Griffe extension of the API reference are found relative
  to the repository root, wherever the build starts from.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "docs" / "examples"
# Repository files published under repository/ (glob patterns relative to the root).
PUBLISHED = (
    "benchmarks/README.md",
    "experiments/README.md",
    "results/REPORT.md",
    "results/*/*.png",
    "results/bayes/*.md",
    "paper_appendix/[!t]*.py",  # the scripts and their shared module, not their tests
    "paper_appendix/output/*.png",
)
FIGURES = "examples/figures"
# A folder holding the outputs of every example's fast run, made by this same code a
# moment before (the test suite runs the examples once, checks their numbers, and then
# builds the site from those outputs instead of running every example a second time).
FIGURES_FROM = "PROBMOLL_DOCS_FIGURES"

log = logging.getLogger("mkdocs.hooks.probmoll")
_figure_folders: list[Path] = []


def example_scripts() -> list[Path]:
    """The example scripts: docs/examples/*.py but the shared ``_``-modules."""
    return sorted(path for path in EXAMPLES.glob("*.py") if not path.name.startswith("_"))


def run_example(script: Path, out: Path) -> dict:
    """Run ``script``'s ``main(["--fast", "--out", out])`` in this process; its results.

    In-process, the scripts share one import of torch; their printed tables are kept out
    of the build's output. They run on one thread (their tensors are small: more threads
    only wait for each other, and for other work on the machine); torch's thread count is
    restored afterwards.
    """
    import torch

    spec = importlib.util.spec_from_file_location(f"probmoll_docs_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    threads, write_bytecode = torch.get_num_threads(), sys.dont_write_bytecode
    sys.path.insert(0, str(EXAMPLES))  # the scripts import their shared module
    torch.set_num_threads(1)
    # No __pycache__ in docs/: `mkdocs serve` would see it appear and build again.
    sys.dont_write_bytecode = True
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            spec.loader.exec_module(module)
            return module.main(["--fast", "--out", str(out)])
    finally:
        sys.path.remove(str(EXAMPLES))
        torch.set_num_threads(threads)
        sys.dont_write_bytecode = write_bytecode


def on_config(config):
    snippets = config["mdx_configs"].setdefault("pymdownx.snippets", {})
    snippets["base_path"] = [str(ROOT)]
    # The Griffe extension of the API reference, found wherever the build starts from.
    options = config.plugins["mkdocstrings"].config["handlers"]["python"]["options"]
    options["extensions"] = [
        str(ROOT / extension) if extension.startswith("docs/") else extension
        for extension in options.get("extensions", [])
    ]
    return config


def on_files(files: Files, config) -> Files:
    for pattern in PUBLISHED:
        for path in sorted(ROOT.glob(pattern)):
            uri = f"repository/{path.relative_to(ROOT).as_posix()}"
            files.append(File.generated(config, uri, abs_src_path=str(path)))

    if os.environ.get(FIGURES_FROM):
        out = Path(os.environ[FIGURES_FROM])
        log.info("example figures from %s (%s)", out, FIGURES_FROM)
    else:
        out = Path(tempfile.mkdtemp(prefix="probmoll-docs-figures-"))
        _figure_folders.append(out)
        for script in example_scripts():
            start = time.perf_counter()
            run_example(script, out)
            log.info("example %s (fast): %.1f s", script.name, time.perf_counter() - start)
    for path in sorted(out.iterdir()):
        files.append(File.generated(config, f"{FIGURES}/{path.name}", abs_src_path=str(path)))
    return files


def on_post_build(config) -> None:
    while _figure_folders:
        shutil.rmtree(_figure_folders.pop(), ignore_errors=True)


def on_build_error(error) -> None:
    on_post_build(None)
