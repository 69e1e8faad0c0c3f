"""One registry class behind every ``register_*`` / ``get_*`` / ``list_*`` of probmoll.

A :class:`Registry` maps names to entries (model factories, dataset loaders, estimator
specs, likelihood forms). Each sub-package keeps one instance and exposes thin public
functions over it, so that every registry refuses a duplicate name and answers an unknown
one with the same error, which lists the valid names.

Examples
--------
>>> widgets = Registry("widget")
>>> @widgets.register("small")
... def make_small():
...     return "small widget"
>>> widgets.get("small")()
'small widget'
>>> widgets.names()
['small']
>>> widgets.get("large")
Traceback (most recent call last):
    ...
ValueError: unknown widget 'large'; valid: small
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries of one kind.

    Parameters
    ----------
    kind : str
        What the entries are (``"model"``, ``"dataset"``, ...); used in error messages.
    case_sensitive : bool, default True
        When False, names are stored and looked up in lower case.
    listing : str, default "valid"
        The words before the list of names in the error for an unknown name:
        ``"unknown {kind} {name!r}; {listing}: a, b"``.
    """

    def __init__(
        self,
        kind: str,
        *,
        case_sensitive: bool = True,
        listing: str = "valid",
    ) -> None:
        self.kind = kind
        self.case_sensitive = case_sensitive
        self.listing = listing
        self._entries: dict[str, T] = {}

    def _key(self, name: object) -> str:
        if not isinstance(name, str) or not name:
            raise TypeError(f"{self.kind} name must be a non-empty str, got {name!r}")
        return name if self.case_sensitive else name.lower()

    def add(self, name: str, entry: T) -> T:
        """Register ``entry`` under ``name`` and return it.

        Adding the same entry again is a no-op; a second, different entry under a
        registered name raises ValueError, and a name that is not a non-empty ``str``
        raises TypeError.
        """
        key = self._key(name)
        if key in self._entries and self._entries[key] is not entry:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[key] = entry
        return entry

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`; the name is checked at once."""
        self._key(name)
        return lambda entry: self.add(name, entry)

    def get(self, name: str) -> T:
        """The entry registered under ``name``.

        Raises
        ------
        ValueError
            For an unknown name; the message lists the registered names, sorted.
        TypeError
            When ``name`` is not a non-empty ``str``.
        """
        key = self._key(name)
        if key not in self._entries:
            raise ValueError(
                f"unknown {self.kind} {name!r}; {self.listing}: {', '.join(self.names())}"
            )
        return self._entries[key]

    @contextlib.contextmanager
    def scoped(self) -> Iterator[Registry[T]]:
        """A context in which entries may be added (or replaced) for a while: on exit the
        registry holds exactly what it held on entry. For tests and notebooks.

        >>> widgets = Registry("widget")
        >>> with widgets.scoped():
        ...     _ = widgets.add("temporary", object())
        >>> "temporary" in widgets
        False
        """
        saved = dict(self._entries)
        try:
            yield self
        finally:
            self._entries.clear()
            self._entries.update(saved)

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(name) and self._key(name) in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, names={self.names()})"
