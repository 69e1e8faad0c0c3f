"""Progress that suits where the output goes: a bar on a terminal, plain lines elsewhere.

A tqdm bar redraws itself with carriage returns; written to a file (a CI log, a SLURM
output file, ``make demo > log``) every redraw stays, and a long run leaves megabytes
of them. :class:`StepProgress` draws the bar only when its stream is a terminal;
otherwise it writes one plain line every :data:`HEARTBEAT_S` seconds (the environment
variable ``PROBMOLL_HEARTBEAT_S`` changes the interval), so a log shows that a long
epoch is alive without growing with every step.
"""

from __future__ import annotations

import datetime
import os
import sys
import time
import warnings
from collections.abc import Mapping
from typing import IO, Any

__all__ = ["HEARTBEAT_ENV", "HEARTBEAT_S", "StepProgress", "heartbeat_seconds", "is_terminal"]

# Seconds between two heartbeat lines when the output is not a terminal.
HEARTBEAT_S = 300.0
HEARTBEAT_ENV = "PROBMOLL_HEARTBEAT_S"


def is_terminal(stream: IO[str] | None = None) -> bool:
    """Whether ``stream`` (default: ``sys.stderr``) is an interactive terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or closed
        return False


def heartbeat_seconds() -> float:
    """:data:`HEARTBEAT_S`, or the value of ``PROBMOLL_HEARTBEAT_S`` when it is set.

    A value that is not a number >= 0 is ignored with a warning (a typo in a log setting
    must not stop a training run).
    """
    text = os.environ.get(HEARTBEAT_ENV)
    if text is None or not text.strip():
        return HEARTBEAT_S
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:
        warnings.warn(
            f"{HEARTBEAT_ENV}={text!r} is not a number of seconds >= 0; using {HEARTBEAT_S:g}",
            RuntimeWarning,
            stacklevel=2,
        )
        return HEARTBEAT_S
    return seconds


class StepProgress:
    """A tqdm bar on a terminal, else a heartbeat line every ``heartbeat_s`` seconds.

    Parameters
    ----------
    total : int
        Steps of the whole task (e.g. of one epoch).
    initial : int
        Steps already done (a resumed epoch).
    desc : str
        What is counted, e.g. ``"epoch 3/300"``; it starts every heartbeat line.
    enabled : bool
        False: no output at all.
    stream : file, optional
        Where the bar or the lines go (default ``sys.stderr``).
    heartbeat_s : float, optional
        Seconds between heartbeat lines (default :func:`heartbeat_seconds`; 0: one line
        per update).
    """

    def __init__(
        self,
        total: int,
        *,
        initial: int = 0,
        desc: str = "",
        enabled: bool = True,
        stream: IO[str] | None = None,
        heartbeat_s: float | None = None,
    ) -> None:
        self.total = total
        self.count = initial
        self.desc = desc
        self.enabled = enabled
        self.stream = sys.stderr if stream is None else stream
        self.heartbeat_s = heartbeat_seconds() if heartbeat_s is None else heartbeat_s
        self.postfix: dict[str, Any] = {}
        self.start = self.last_line = time.monotonic()
        self.bar = None
        if enabled and is_terminal(self.stream):
            from tqdm import tqdm

            self.bar = tqdm(
                total=total,
                initial=initial,
                desc=desc,
                dynamic_ncols=True,
                leave=False,
                file=self.stream,
            )

    def update(self, n: int = 1, postfix: Mapping[str, Any] | None = None) -> None:
        """Count ``n`` steps; ``postfix`` (name -> shown value) replaces the shown figures."""
        self.count += n
        if postfix is not None:
            self.postfix = dict(postfix)
        if self.bar is not None:
            if postfix is not None:
                self.bar.set_postfix(self.postfix, refresh=False)
            self.bar.update(n)
            return
        now = time.monotonic()
        if self.enabled and now - self.last_line >= self.heartbeat_s:
            self.last_line = now
            self.stream.write(self.line(now) + "\n")
            self.stream.flush()

    def line(self, now: float | None = None) -> str:
        """The heartbeat line: ``desc: count/total steps, name value, ..., elapsed``."""
        elapsed = (time.monotonic() if now is None else now) - self.start
        parts = [f"{self.count}/{self.total} steps"]
        parts += [f"{name} {value}" for name, value in self.postfix.items()]
        parts.append(f"{datetime.timedelta(seconds=round(elapsed))} elapsed")
        return f"{self.desc}: " + ", ".join(parts) if self.desc else ", ".join(parts)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
