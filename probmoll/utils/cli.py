"""Argument types shared by the ``probmoll`` sub-commands (for ``argparse``'s ``type=``)."""

from __future__ import annotations

import argparse

__all__ = ["positive_int"]


def positive_int(text: str) -> int:
    """An integer of at least 1, for ``parser.add_argument(..., type=positive_int)``.

    Parameters
    ----------
    text : str
        The command-line value.

    Returns
    -------
    int
        The value.

    Raises
    ------
    argparse.ArgumentTypeError
        When ``text`` is not an integer or is below 1; argparse turns it into a usage
        error naming the option and the value.
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value
