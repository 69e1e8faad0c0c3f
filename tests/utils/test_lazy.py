"""probmoll.utils.lazy: names imported on first use, and every lazy package of probmoll."""

import importlib
import sys

import pytest

LAZY_PACKAGES = ["probmoll.augment", "probmoll.likelihoods", "probmoll.mollify", "probmoll.train"]


@pytest.fixture
def package(tmp_path, monkeypatch):
    root = tmp_path / "lazypkg"
    root.mkdir()
    (root / "__init__.py").write_text(
        "from probmoll.utils.lazy import lazy_exports\n"
        "__all__ = ['VALUE']\n"
        "__getattr__, __dir__ = lazy_exports(__name__, {'VALUE': 'heavy'}, __all__,"
        " submodules=['heavy'])\n"
    )
    (root / "heavy.py").write_text("VALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield importlib.import_module("lazypkg")
    for name in ("lazypkg", "lazypkg.heavy"):
        sys.modules.pop(name, None)


def test_a_name_is_imported_on_first_use_and_then_cached(package):
    assert "lazypkg.heavy" not in sys.modules
    assert "VALUE" in dir(package)
    assert package.VALUE == 42
    assert "lazypkg.heavy" in sys.modules and vars(package)["VALUE"] == 42


def test_submodules_and_unknown_names(package):
    assert package.heavy.VALUE == 42
    with pytest.raises(AttributeError, match="module 'lazypkg' has no attribute 'nope'"):
        package.nope  # noqa: B018


@pytest.mark.parametrize("name", LAZY_PACKAGES)
def test_every_public_name_of_the_lazy_packages_resolves(name):
    module = importlib.import_module(name)
    for public in module.__all__:
        assert getattr(module, public) is not None, f"{name}.{public}"


def test_an_exported_name_shadows_its_submodule_of_the_same_name(tmp_path, monkeypatch):
    # The package exports the function `shade` of its sub-module `shade`; importing the
    # sub-module directly (as other modules do) must not replace the function by the module.
    root = tmp_path / "shadepkg"
    root.mkdir()
    (root / "__init__.py").write_text(
        "from probmoll.utils.lazy import lazy_exports\n"
        "__all__ = ['shade']\n"
        "__getattr__, __dir__ = lazy_exports(__name__, {'shade': 'shade'}, __all__)\n"
    )
    (root / "shade.py").write_text("def shade():\n    return 'function'\n\nOTHER = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        from shadepkg import shade
        from shadepkg.shade import OTHER  # loads the sub-module first

        assert OTHER == 1 and callable(shade) and shade() == "function"
        assert sys.modules["shadepkg.shade"].shade is shade
    finally:
        for name in ("shadepkg", "shadepkg.shade"):
            sys.modules.pop(name, None)


def test_mollify_exports_the_noise_and_blur_functions_after_their_modules_load():
    code = (
        "import probmoll.mollify.noise, probmoll.mollify.blur\n"
        "from probmoll.mollify import blur, noise\n"
        "assert callable(noise) and callable(blur), (noise, blur)\n"
        "assert noise.__name__ == 'noise' and blur.__name__ == 'blur'\n"
    )
    from tests.helpers import run_python

    finished = run_python(code)
    assert finished.returncode == 0, finished.stderr
