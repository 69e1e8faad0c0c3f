"""Reference errors for the mCE: reading and checking them, and the mCE of an evaluation.

The mCE of Hendrycks and Dietterich (2019) divides a model's errors, summed over
severities, by those of a reference model (usually AlexNet's), per corruption, then
averages over the benchmark corruptions; the relative mCE does the same with errors
taken relative to the clean error. ``probmoll evaluate --reference-errors FILE`` adds
both to ``metrics.json`` and ``report.md``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from probmoll.evaluate.report import _get
from probmoll.metrics import DEFAULT_SEVERITIES, mce, relative_mce
from probmoll.utils.io import read_json

__all__ = ["check_reference", "load_reference_errors", "reference_summary"]


def _error_fraction(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{where}: expected an error (a number in [0, 1]), got {value!r}")
    if not 0 <= value <= 1:
        hint = " (errors are fractions, not percentages)" if 1 < value <= 100 else ""
        raise ValueError(f"{where}: error {value!r} is outside [0, 1]{hint}")
    return float(value)


def _severity_errors(values: Mapping[str, Any], where: str) -> dict[int, float]:
    """``{"1": error, ...}`` of one corruption as ``{1: error, ...}``, sorted by severity."""
    from probmoll.data.corruptions.names import check_severities

    levels = []
    for level in values:
        if not (isinstance(level, str) and level.isdigit()):
            raise ValueError(f"{where}: severity {level!r} is not one of 1..5")
        levels.append(int(level))
    check_severities(levels, name=f"{where}: severities")
    errors = {
        level: _error_fraction(value, f"{where}, severity {level}")
        for level, value in zip(levels, values.values(), strict=True)
    }
    return dict(sorted(errors.items()))


def load_reference_errors(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a JSON file of a reference model's errors, for mCE.

    The file maps each corruption to its errors, either per severity
    (``{"1": 0.58, ..., "5": 0.92}`` or a list for severities 1, 2, ...) or as one number,
    the mean over severities 1-5 (how AlexNet's errors are usually published). An optional
    ``"clean"`` entry, the reference's clean error, adds the relative mCE. Errors are
    fractions in [0, 1]. Example: ``{"clean": 0.23, "gaussian_noise": 0.89, "fog":
    {"1": 0.4, "2": 0.5, "3": 0.6, "4": 0.7, "5": 0.8}}``.

    Parameters
    ----------
    path : str or os.PathLike
        The JSON file.

    Returns
    -------
    dict
        ``{corruption: float or {severity: float}}``, plus ``"clean"`` when given.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Not JSON, not an object, an unknown corruption name, a bad severity or a value
        that is not an error in [0, 1]; the message names the file and the entry.
    """
    from probmoll.data.corruptions import check_corruption

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"reference errors file {str(path)!r} does not exist")
    try:
        content = read_json(path)
    except ValueError as error:
        raise ValueError(f"reference errors file {error}") from None
    if not isinstance(content, dict) or not content:
        raise ValueError(
            f"reference errors file {str(path)!r} must hold a non-empty JSON object "
            "{corruption: error or {severity: error}}, got " + type(content).__name__
        )
    reference: dict[str, Any] = {}
    for name, values in content.items():
        where = f"{str(path)!r}, entry {name!r}"
        if name == "clean":
            reference["clean"] = _error_fraction(values, where)
            continue
        try:
            check_corruption(name)
        except ValueError as error:
            raise ValueError(f"reference errors file {str(path)!r}: {error}") from None
        if isinstance(values, list):
            values = {str(level): value for level, value in enumerate(values, start=1)}
        if isinstance(values, dict):
            reference[name] = _severity_errors(values, where)
        else:
            reference[name] = _error_fraction(values, where)
    if set(reference) <= {"clean"}:
        raise ValueError(f"reference errors file {str(path)!r} names no corruption")
    return reference


def check_reference(
    reference: Mapping[str, Any], levels: Mapping[str, Sequence[int]], source: str
) -> None:
    """Raise the ValueError :func:`reference_summary` would, before the evaluation rather
    than after it.

    Parameters
    ----------
    reference : mapping
        Reference errors as read by :func:`load_reference_errors`.
    levels : mapping
        ``{corruption: severities}`` that will be evaluated.
    source : str
        Where the reference errors come from (a file name), for the messages.

    Raises
    ------
    ValueError
        Missing corruptions or severities, errors summing to 0, a clean error not
        below the corruption errors; the message names ``source``.
    """
    selected = _reference_for(reference, levels, source)
    if not selected:
        return
    try:
        mce(selected, selected)
        if "clean" in reference:
            relative_mce(selected, 0.0, selected, reference["clean"])
    except ValueError as error:
        raise ValueError(f"reference errors file {source!r}: {error}") from None


def _reference_for(
    reference: Mapping[str, Any], levels: Mapping[str, Sequence[int]], source: str
) -> dict[str, Any]:
    """The reference errors of the (corruption, severities) in ``levels``; a ValueError
    naming ``source`` unless it covers them all."""
    missing = sorted(name for name in levels if name not in reference)
    if missing:
        raise ValueError(
            f"{source} has no reference errors for the evaluated corruptions {missing}"
        )
    selected: dict[str, Any] = {}
    for name, wanted in levels.items():
        values = reference[name]
        wanted = sorted(int(level) for level in wanted)
        if isinstance(values, dict):
            absent = [level for level in wanted if level not in values]
            if absent:
                raise ValueError(
                    f"{source} has no reference errors for {name!r} at severities {absent}"
                )
            selected[name] = {level: values[level] for level in wanted}
        elif wanted != list(DEFAULT_SEVERITIES):
            raise ValueError(
                f"{source} gives {name!r} one error (a mean over severities 1-5) but severities "
                f"{wanted} were evaluated: evaluate all five or give per-severity errors"
            )
        else:
            selected[name] = values
    return selected


def reference_summary(
    results: Mapping[str, Any], reference: Mapping[str, Any], source: str = "reference errors"
) -> dict[str, Any]:
    """mCE (and relative mCE) of evaluated ``results`` against ``reference`` errors.

    Only the benchmark corruptions enter (as for the "corr" mean). The relative mCE needs
    the reference's ``"clean"`` error and a clean evaluation.

    Parameters
    ----------
    results : mapping
        An evaluation, as returned by :func:`probmoll.evaluate.evaluate_model`.
    reference : mapping
        Reference errors as read by :func:`load_reference_errors`.
    source : str, default "reference errors"
        Where the reference errors come from, recorded and named in messages.

    Returns
    -------
    dict
        ``mce``; ``relative_mce`` (when possible); ``reference``: ``{"source",
        "ce_by_corruption", "relative_ce_by_corruption"}``. Ratios: 1.0 is the reference.
    """
    by_corruption = _get(results, "corrupted", "by_corruption")
    if not by_corruption:
        raise ValueError(f"{source}: mCE needs corrupted results (pass --corruptions)")
    errors = {
        name: {int(level): cell["error"] for level, cell in cells.items() if level != "mean"}
        for name, cells in by_corruption.items()
    }
    selected = _reference_for(reference, errors, source)
    normalised = mce(errors, selected)
    summary: dict[str, Any] = {
        "mce": normalised["mce"],
        "reference": {"source": source, "ce_by_corruption": normalised["by_corruption"]},
    }
    clean_error = _get(results, "clean", "error")
    if "clean" in reference and clean_error is not None:
        relative = relative_mce(errors, clean_error, selected, reference["clean"])
        summary["relative_mce"] = relative["relative_mce"]
        summary["reference"]["relative_ce_by_corruption"] = relative["by_corruption"]
    return summary
