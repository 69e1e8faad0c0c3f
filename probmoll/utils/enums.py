"""String options as enums: parse a value into a member, or fail listing the choices.

Examples
--------
>>> import enum
>>> class Colour(str, enum.Enum):
...     RED = "red"
...     BLUE = "blue"
>>> parse_choice(Colour, "red", "colour")
<Colour.RED: 'red'>
>>> parse_choice(Colour, "green", "colour")
Traceback (most recent call last):
    ...
ValueError: unknown colour 'green'; choose one of 'red', 'blue'
"""

from __future__ import annotations

import enum
from typing import TypeVar

__all__ = ["parse_choice"]

Choice = TypeVar("Choice", bound=enum.Enum)


def parse_choice(cls: type[Choice], value: object, field: str) -> Choice:
    """The member of the enum ``cls`` whose value is ``value``.

    Parameters
    ----------
    cls : type of enum.Enum
        The enum of valid choices, usually a ``str`` enum.
    value : object
        A member of ``cls`` or the value of one (e.g. ``"smooth"``).
    field : str
        What the value is called (a config key, an argument), for the error message.

    Returns
    -------
    enum.Enum
        The member of ``cls``.

    Raises
    ------
    ValueError
        When ``value`` is no member's value; the message lists the valid values in
        definition order.
    """
    try:
        return cls(value)
    except ValueError:
        choices = ", ".join(repr(member.value) for member in cls)
        raise ValueError(f"unknown {field} {value!r}; choose one of {choices}") from None
