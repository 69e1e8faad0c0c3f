"""The documentation site builds with ``mkdocs build --strict``: no broken link, anchor,
snippet, navigation entry or API reference, and the pages show what they should."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IMAGE = re.compile(r'<img[^>]*\bsrc="([^"]+)"')


@pytest.fixture(scope="module")
def site(tmp_path_factory, hooks, examples) -> Path:
    """The site, built strictly, with the figures of the examples' fast runs."""
    for script in hooks.example_scripts():
        examples(script.stem)
    out = tmp_path_factory.mktemp("site")
    environment = {
        **os.environ,
        hooks.FIGURES_FROM: str(examples.folder),
        "NO_MKDOCS_2_WARNING": "1",  # Material's banner about its successor
    }
    completed = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-d", str(out)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-5000:]
    return out


def page(site: Path, path: str) -> str:
    return (site / path / "index.html").read_text(encoding="utf-8")


def images(site: Path, path: str) -> list[Path]:
    """The images a page shows, as files of the site."""
    return [(site / path / src).resolve() for src in IMAGE.findall(page(site, path))]


@pytest.mark.slow
def test_api_reference_of_the_likelihoods(site):
    html = page(site, "api/likelihoods")
    for name in ("probmoll.likelihoods.forms", "log_partition", "durbin_koopman", "Objective"):
        assert name in html, name
    # Sphinx roles are rewritten: math goes to MathJax, cross-references become code.
    assert 'class="arithmatex"' in html
    assert ":math:" not in html and ":func:" not in html


@pytest.mark.slow
def test_example_pages_show_their_figures(site):
    shown = images(site, "examples/dirichlet-modes")
    assert site / "examples/figures/dirichlet_modes.png" in shown
    for path in ("examples/estimator-bias", "examples/posterior-temperature"):
        assert images(site, path), path
    for image in images(site, "examples"):  # the overview's thumbnails
        assert image.is_file(), image


@pytest.mark.slow
def test_repository_pages_are_published(site):
    report = page(site, "repository/results/REPORT")
    assert "cpu-objectives" in report
    assert all(image.is_file() for image in images(site, "repository/results/REPORT"))
    assert "reproduce.py" in page(site, "repository/experiments")
    assert (site / "repository/paper_appendix/appendix_d_bias.py").is_file()
    for path in ("appendix/d-estimator-bias", "appendix/fig4-dirichlet-modes"):
        assert images(site, path) and all(image.is_file() for image in images(site, path))


@pytest.mark.parametrize(
    ("docstring", "markdown"),
    [
        (
            "the :math:`\\log Z` of :func:`~probmoll.likelihoods.jensen`",
            "the \\(\\log Z\\) of `jensen`",
        ),
        (
            ":class:`probmoll.bayes.Posterior` and :py:meth:`~a.B.c`",
            "`probmoll.bayes.Posterior` and `c`",
        ),
        ("Text\n\n.. math:: a = b\n\nmore", "Text\n\n\\[\na = b\n\\]\n\nmore"),
        (
            "Text:\n\n.. math::\n\n    a = b\n       + c\n\nmore",
            "Text:\n\n\\[\na = b\n   + c\n\\]\n\nmore",
        ),
        ("Parameters\n    x : float\n        see\n        .. math:: x^2\n", None),
    ],
)
def test_sphinx_roles_are_rewritten(docstring, markdown):
    spec = importlib.util.spec_from_file_location("roles", ROOT / "docs/griffe_sphinx_roles.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rewritten = module.markdown(docstring)
    if markdown is None:  # an indented directive keeps its indentation
        assert "        \\[\n        x^2\n        \\]" in rewritten, rewritten
    else:
        assert rewritten == markdown
