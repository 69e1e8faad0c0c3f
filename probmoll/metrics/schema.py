"""The numbers of a ``metrics.json``, by dotted name: what a sweep may collect.

An evaluation (:func:`probmoll.evaluate.evaluate_model`, written by
:func:`probmoll.evaluate.write_report`) nests its numbers as ``clean``, ``corrupted``
(the summaries of :func:`~probmoll.metrics.aggregate_corruptions`, ``pooled``, and the
mCE of ``probmoll evaluate --reference-errors``) and, for a training run, ``run``.
:data:`METRIC_PATTERNS` names every number held there once, as data: a dotted key
in which the parts that vary are placeholders,

============== =========================================================================
``<cell>``      a metric of one set of images (:data:`CELL_METRICS`, the keys of
                :meth:`~probmoll.metrics.ClassificationMetrics.compute`)
``<summary>``   a metric of a mean over cells (:data:`SUMMARY_FIELDS`, the keys of
                :func:`~probmoll.metrics.mean_metrics`)
``<corruption>`` a benchmark corruption (``gaussian_noise``, ...)
``<heldout>``   a held-out corruption (``speckle_noise``, ...)
``<category>``  a category of benchmark corruptions (``noise``, ``blur``, ...)
``<severity>``  a severity level (``1`` ... ``5``)
============== =========================================================================

The corruption names live in :mod:`probmoll.data.corruptions`, above this package: the
caller passes them (:class:`MetricNames`), and by default any lower-case name fits.

>>> names = MetricNames()
>>> names.match("corrupted.by_severity.3.ece")
'corrupted.by_severity.<severity>.<summary>'
>>> names.match("clean.eror") is None
True
>>> names.suggest("clean.eror", n=1)
['clean.error']
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from probmoll.metrics.aggregate import DEFAULT_SEVERITIES, SUMMARY_METRICS

__all__ = [
    "CELL_METRICS",
    "METRIC_PATTERNS",
    "SUMMARY_FIELDS",
    "MetricNames",
    "numeric_keys",
]

CELL_METRICS: tuple[str, ...] = (
    "error",
    "nll",
    "ece",
    "brier",
    "accuracy",
    "mean_confidence",
    "max_calibration_error",
    "count",
)
"""The numbers of one set of images (clean split, one corruption cell, the pooled images)."""

SUMMARY_FIELDS: tuple[str, ...] = (*SUMMARY_METRICS, "count", "cells")
"""The numbers of a mean over cells: the averaged metrics, images and cells counted."""

METRIC_PATTERNS: tuple[str, ...] = (
    "clean.<cell>",
    "corrupted.mean.<summary>",
    "corrupted.pooled.<cell>",
    "corrupted.by_category.<category>.<summary>",
    "corrupted.by_severity.<severity>.<summary>",
    "corrupted.by_corruption.<corruption>.mean.<summary>",
    "corrupted.by_corruption.<corruption>.<severity>.<cell>",
    "corrupted.heldout.mean.<summary>",
    "corrupted.heldout.by_severity.<severity>.<summary>",
    "corrupted.heldout.by_corruption.<heldout>.mean.<summary>",
    "corrupted.heldout.by_corruption.<heldout>.<severity>.<cell>",
    "corrupted.mce",
    "corrupted.relative_mce",
    "corrupted.reference.ce_by_corruption.<corruption>",
    "corrupted.reference.relative_ce_by_corruption.<corruption>",
    "run.steps",
    "run.train_wall_time_s",
)
"""Every number a ``metrics.json`` holds, as dotted keys with placeholders (see above).

``settings`` (how it was evaluated), ``reliability`` (the diagrams' bins) and ``run``'s
provenance are not metrics and are left out.
"""

_PLACEHOLDER = re.compile(r"<([a-z]+)>")
_PLACEHOLDER_SPLIT = re.compile(r"(<[a-z]+>)")
_ANY_NAME = r"[a-z][a-z0-9_]*"


def _parts(pattern: str) -> list[tuple[str, str | None]]:
    """``pattern`` as ``(text, placeholder name or None)`` pieces, in order."""
    pieces = []
    for part in _PLACEHOLDER_SPLIT.split(pattern):
        match = _PLACEHOLDER.fullmatch(part)
        if part:
            pieces.append((part, match.group(1) if match else None))
    return pieces


@dataclasses.dataclass(frozen=True)
class MetricNames:
    """The dotted metric names of :data:`METRIC_PATTERNS` for given corruption names.

    Parameters
    ----------
    corruptions, heldout, categories : sequence of str, optional
        The benchmark corruptions, the held-out ones and the categories; None accepts
        any lower-case name there (and :meth:`suggest` then knows no names to offer).
    severities : sequence of int, default 1-5
        The severity levels.
    """

    corruptions: Sequence[str] | None = None
    heldout: Sequence[str] | None = None
    categories: Sequence[str] | None = None
    severities: Sequence[int] = DEFAULT_SEVERITIES

    def _choices(self) -> dict[str, Sequence[str] | None]:
        return {
            "cell": CELL_METRICS,
            "summary": SUMMARY_FIELDS,
            "corruption": self.corruptions,
            "heldout": self.heldout,
            "category": self.categories,
            "severity": [str(level) for level in self.severities],
        }

    def _regex(self, pattern: str) -> re.Pattern[str]:
        choices = self._choices()
        regex = ""
        for part, placeholder in _parts(pattern):
            names = choices[placeholder] if placeholder else [part]
            regex += (
                _ANY_NAME
                if names is None
                else "(?:" + "|".join(re.escape(name) for name in names) + ")"
            )
        return re.compile(regex)

    def match(self, name: str) -> str | None:
        """The pattern of :data:`METRIC_PATTERNS` that ``name`` fits, or None."""
        for pattern in METRIC_PATTERNS:
            if self._regex(pattern).fullmatch(name):
                return pattern
        return None

    def expand(self) -> list[str]:
        """Every concrete name (placeholders left unknown stay as ``<name>``)."""
        choices = self._choices()
        names = []
        for pattern in METRIC_PATTERNS:
            expanded = [""]
            for part, placeholder in _parts(pattern):
                options = choices[placeholder] if placeholder else None
                values = [part] if options is None else list(options)
                expanded = [head + value for head in expanded for value in values]
            names += expanded
        return names

    def suggest(self, name: str, n: int = 3) -> list[str]:
        """Up to ``n`` valid names close to ``name`` (:func:`difflib.get_close_matches`)."""
        return difflib.get_close_matches(name, self.expand(), n=n, cutoff=0.6)

    def describe(self) -> str:
        """The patterns and what their placeholders stand for, on one line."""
        choices = self._choices()
        used = dict.fromkeys(
            placeholder
            for pattern in METRIC_PATTERNS
            for _, placeholder in _parts(pattern)
            if placeholder
        )
        meanings = []
        for placeholder in used:
            names = choices[placeholder]
            listed = "any lower-case name" if names is None else ", ".join(names)
            meanings.append(f"<{placeholder}>: {listed}")
        return ", ".join(METRIC_PATTERNS) + " (" + "; ".join(meanings) + ")"


def numeric_keys(results: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """The dotted keys of the numbers in a nested mapping, in order.

    Lists (the reliability diagrams, the settings' mean and std) and booleans are not
    numbers here.

    >>> list(numeric_keys({"clean": {"error": 0.1, "ok": True}, "n": [1, 2]}))
    ['clean.error']
    """
    for key, value in results.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from numeric_keys(value, prefix=f"{dotted}.")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            yield dotted
