"""Lazy package namespaces: a package's public names imported on first use.

A package ``__init__`` that imports all its sub-modules makes ``import probmoll.x.light``
as slow as the heaviest of them (torch, torchvision, pyro take seconds to import). With
:func:`lazy_exports` the package keeps its ``__all__`` and every ``from probmoll.x import
name`` keeps working, but each name is imported from the sub-module that defines it only
when it is first used (PEP 562).
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


class _LazyPackage(types.ModuleType):
    """A package whose exported names shadow its sub-modules of the same name.

    ``probmoll.mollify`` exports the function ``noise`` defined in its sub-module
    ``noise``. Importing that sub-module (``from probmoll.mollify.noise import ...``, as
    other modules do) makes the import system set the package attribute ``noise`` to the
    module, after which ``from probmoll.mollify import noise`` would return the module.
    An eagerly importing ``__init__`` keeps the function (its ``from .noise import noise``
    runs after the sub-module is loaded); this class keeps the same answer lazily.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        shadowed = self.__dict__.get("_lazy_shadowed", ())
        if name in shadowed and isinstance(value, types.ModuleType):
            value = getattr(value, name)
        super().__setattr__(name, value)


def lazy_exports(
    package: str,
    sources: Mapping[str, str],
    public: Iterable[str],
    *,
    submodules: Iterable[str] = (),
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module ``__getattr__`` and ``__dir__`` of a lazy package.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    sources : mapping of str to str
        Public name -> the sub-module (relative name) that defines it.
    public : iterable of str
        The package's ``__all__``.
    submodules : iterable of str, default ()
        Sub-modules reachable as attributes (``package.submodule``) before they are
        imported explicitly.

    Examples
    --------
    In ``probmoll/x/__init__.py``::

        __all__ = ["Thing"]
        __getattr__, __dir__ = lazy_exports(__name__, {"Thing": "things"}, __all__)
    """
    sources = dict(sources)
    public = list(public)
    submodules = frozenset(submodules)
    module = sys.modules.get(package)
    shadowed = frozenset(name for name, source in sources.items() if name == source)
    if module is not None and shadowed:
        module._lazy_shadowed = shadowed
        module.__class__ = _LazyPackage
        for name in shadowed:  # a sub-module imported before this call (during __init__)
            if isinstance(vars(module).get(name), types.ModuleType):
                setattr(module, name, vars(module)[name])

    def __getattr__(name: str) -> Any:
        if name in submodules:
            return importlib.import_module(f"{package}.{name}")
        source = sources.get(name)
        if source is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{source}"), name)
        setattr(sys.modules[package], name, value)  # later look-ups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(public))

    return __getattr__, __dir__
