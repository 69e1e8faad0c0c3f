"""Where ``probmoll evaluate`` writes, and the record that makes its folder self-describing.

An evaluation never writes over a training run's files: by default it goes to
``RUN/evaluations/<name>/`` beside the checkpoint, where ``<name>``
(:func:`evaluation_name`) says what was evaluated, e.g.
``cifar10-test__generated__s1-5__n1000``. A folder that already holds an evaluation's
files is replaced only on request (``--overwrite``), the same evaluation included, so a
result is never replaced silently; a folder holding a run's own files is never written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from probmoll.evaluate.report import (
    METRICS_FILE,
    RELIABILITY_PLOT_FILE,
    REPORT_FILE,
    SEVERITY_PLOT_FILE,
)
from probmoll.models import CHECKPOINT_NAME
from probmoll.utils.io import read_json

__all__ = [
    "EVALUATIONS_DIR",
    "EVALUATION_FILES",
    "PLOT_FILES",
    "RUN_MARKS",
    "check_output_folder",
    "evaluation_name",
    "evaluation_record",
    "remove_stale_plots",
]

# The sub-folder of a run folder (or of the folder holding a checkpoint file) that holds
# its evaluations, one folder each.
EVALUATIONS_DIR = "evaluations"
PLOT_FILES = (SEVERITY_PLOT_FILE, RELIABILITY_PLOT_FILE)
# What an evaluation writes: a folder holding any of them holds an evaluation.
EVALUATION_FILES = (METRICS_FILE, REPORT_FILE, *PLOT_FILES)
# Files only training writes ("run.json" is probmoll.train's run record, named here because
# evaluate sits below train): a folder holding one is a run's, never an evaluation's.
RUN_MARKS = (CHECKPOINT_NAME, "run.json")
# The entries of a record that define what was evaluated: equal entries are the same
# evaluation (the batch size, device and plots change no number that matters).
SAME_EVALUATION_KEYS = (
    "checkpoint",
    "data",
    "corruptions",
    "corruptions_root",
    "severities",
    "include_heldout",
    "subset",
    "reference_errors",
    "corruption_preset",
    "precision",
)
_PART_CHARS = 40  # each part of a name at most, so that a name stays a readable length


def _name_part(text: str, fallback: str) -> str:
    """``text`` lower-cased with anything but letters, digits, '.', '_' and '-' as '-'."""
    part = re.sub(r"[^a-z0-9._-]+", "-", text.lower())
    part = re.sub(r"-{2,}", "-", part)[:_PART_CHARS].strip("-._")
    return part or fallback


def _severity_part(severities: Sequence[int]) -> str:
    levels = sorted({int(s) for s in severities})
    if len(levels) > 2 and levels == list(range(levels[0], levels[-1] + 1)):
        return f"s{levels[0]}-{levels[-1]}"
    return "s" + "".join(str(s) for s in levels)  # one digit each: levels are 1..5


def evaluation_name(
    *,
    data: str,
    corruptions: str,
    severities: Sequence[int] | None,
    include_heldout: bool,
    subset: int | None,
    preset: str | None = None,
) -> str:
    """The default folder name of an evaluation: what is evaluated, filesystem-safe.

    Parameters
    ----------
    data : str
        The clean images: a dataset name (its test split) or ``npz:PATH``.
    corruptions : str
        The corruption set: a name, a folder or ``"none"``.
    severities : sequence of int or None
        The severities asked for; ``None`` (every severity the set holds) adds no part.
    include_heldout : bool
        Whether the held-out corruptions are evaluated too.
    subset : int or None
        The number of images per split and cell, ``None`` for all.
    preset : str, optional
        The corruption preset asked for; an explicit one (not ``"auto"``) is added to a
        generated set's part (``generated-cifar10-c``), so that sets of two presets get
        two folders.

    Returns
    -------
    str
        Parts joined by ``"__"``: the data (``cifar10-test``, ``npz-<file stem>``), then
        with corruptions the set (its name or its folder's name), ``s<severities>``
        (``s1-5``, ``s13``) and ``heldout``, then ``n<subset>``. Lower case letters,
        digits, ``.``, ``_`` and ``-`` only; each part at most 40 characters. Different
        evaluations may share a name (two folders both called ``CIFAR-10-C``):
        :func:`check_output_folder` then refuses to replace one by the other.
    """
    if data.startswith("npz:"):
        parts = ["npz-" + _name_part(Path(data[len("npz:") :]).stem, "data")]
    else:
        parts = [_name_part(data, "data") + "-test"]
    if corruptions.lower() != "none":
        part = _name_part(Path(corruptions).name or corruptions, "corruptions")
        if corruptions.lower() == "generated" and preset not in (None, "auto"):
            part += "-" + _name_part(preset, "preset")
        parts.append(part)
        if severities:
            parts.append(_severity_part(severities))
        if include_heldout:
            parts.append("heldout")
    if subset is not None:
        parts.append(f"n{int(subset)}")
    return "__".join(parts)


def evaluation_record(**entries: Any) -> dict[str, Any]:
    """The ``evaluation`` entry of an evaluation's ``metrics.json``: ``entries`` (what was
    evaluated, see ``SAME_EVALUATION_KEYS``, the command, the folder name), the probmoll
    version and the time it is made, before the evaluation starts (UTC, ISO 8601)."""
    from probmoll import __version__

    time = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return {**entries, "probmoll": __version__, "time": time}


def _describe(record: Mapping[str, Any]) -> str:
    what = f"of {record.get('checkpoint')} on {record.get('data')}"
    if str(record.get("corruptions", "none")).lower() != "none":
        what += f" and {record.get('corruptions')}"
    return what + (f", {record['time']}" if record.get("time") else "")


def check_output_folder(folder: Path, record: Mapping[str, Any], *, overwrite: bool) -> None:
    """Raise a ``ValueError`` unless the evaluation ``record`` may be written to ``folder``.

    Refused: a folder holding a run's own files (``RUN_MARKS``), always; a folder holding
    an evaluation's files (``EVALUATION_FILES``), the same evaluation or another, unless
    ``overwrite``. A missing folder, or one holding other files only, is accepted.
    """
    if not folder.is_dir():
        return  # made when the results are written (an error then if it cannot be)
    marks = [name for name in RUN_MARKS if (folder / name).exists()]
    if marks:
        raise ValueError(
            f"{folder} is a training run's folder (it holds {marks[0]}) and probmoll evaluate "
            f"never writes over a run's files: leave out --out (the results then go to "
            f"{folder / EVALUATIONS_DIR}/NAME) or choose another folder"
        )
    found = [name for name in EVALUATION_FILES if (folder / name).exists()]
    if not found or overwrite:
        return
    try:
        existing = read_json(folder / METRICS_FILE).get("evaluation")
    except (OSError, ValueError, AttributeError):
        existing = None  # unreadable or foreign: still files that would be replaced
    if not isinstance(existing, Mapping):
        what = f"already holds evaluation files ({', '.join(found)})"
    elif all(existing.get(key) == record.get(key) for key in SAME_EVALUATION_KEYS):
        what = f"already holds this evaluation ({existing.get('time', 'time unknown')})"
    else:
        what = f"already holds another evaluation ({_describe(existing)})"
    raise ValueError(
        f"{folder} {what}: pass --overwrite to replace it, or --out DIR to write elsewhere"
    )


def remove_stale_plots(folder: Path, written: Mapping[str, Path]) -> list[Path]:
    """Delete the figures in ``folder`` that the evaluation just written there did not
    draw (they belong to the one it replaced); returns the deleted paths.

    Only for an evaluation's own folder, never a run's (see :func:`check_output_folder`).
    """
    kept = {Path(path).name for path in written.values()}
    removed = []
    for name in PLOT_FILES:
        path = folder / name
        if name not in kept and path.is_file():
            path.unlink()
            removed.append(path)
    return removed
