"""What a target of ``experiments/reproduce.py`` works with (:class:`Context`).

The study of one scale (:class:`experiments.study.Study`), the paper's numbers, and the
writers of tables (``results/tables/<target>_<scale>.md``) and figures
(``results/figures/<name>.png``) that only say what they would write in a dry run.
Imported by ``experiments/targets.py`` and ``experiments/script_targets.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from experiments.claim_checks import claims_section
from experiments.claims import STUDY_CLAIMS
from experiments.runs import REPO, Run, corruption_preset, dataset_title, group_runs
from experiments.study import Study
from probmoll.utils.io import atomic_write_text

__all__ = ["Context", "TargetUnavailable", "by_label", "figure_title", "shown"]


class TargetUnavailable(RuntimeError):
    """This target has nothing to run at this scale (exit status 2)."""


@dataclass
class Context:
    """What a target works with: the study of one scale, the paper's numbers, outputs."""

    study: Study
    reference: dict[str, Any]
    command: str
    written: list[Path] = field(default_factory=list)
    _runs: dict[str, list[Run]] = field(default_factory=dict)

    @property
    def scale(self) -> str:
        return self.study.scale

    @property
    def results_dir(self) -> Path:
        return self.study.results_dir

    def grids(self, study: str, target: str) -> tuple[str, ...]:
        """The grids of ``study`` at this scale; none: :class:`TargetUnavailable`."""
        grids = self.study.grids(study)
        if not grids:
            raise TargetUnavailable(f"{target}: no {self.scale}-scale grid ({study})")
        return grids

    def runs(self, stem: str) -> list[Run]:
        """The finished runs of grid ``stem`` (running the missing ones first, once)."""
        if stem not in self._runs:
            self._runs[stem] = self.study.runs(stem)
        return self._runs[stem]

    def write_table(self, target: str, title: str, lines: Sequence[str]) -> Path | None:
        """``results/tables/<target>_<scale>.md``: a title, how it was made, ``lines``."""
        path = self.results_dir / "tables" / f"{target}_{self.scale}.md"
        if self.study.dry_run:
            print(f"would write {path}", file=self.study.log)
            return None
        text = [
            f"# {title} ({self.scale} scale)",
            "",
            f"Written by `{self.command}` from the run files under "
            f"`{shown(self.results_dir)}/`; do not edit by hand.",
            "",
            *lines,
        ]
        self.written.append(atomic_write_text(path, "\n".join(text).rstrip() + "\n"))
        return path

    def figure(self, name: str, draw: Callable[..., Path], **data: Any) -> Path | None:
        """``draw(path=results/figures/<name>.png, **data)``, unless this is a dry run or
        there is nothing to draw (every sequence in ``data`` empty: no finished runs)."""
        path = self.results_dir / "figures" / f"{name}.png"
        if self.study.dry_run:
            print(f"would write {path}", file=self.study.log)
            return None
        sequences = [v for v in data.values() if isinstance(v, (list, tuple, dict))]
        if sequences and not any(sequences):
            print(f"{name}: no finished runs yet, nothing drawn", file=self.study.log)
            return None
        self.written.append(draw(path=path, **data))
        return path

    def claims(self, *studies: str) -> list[str]:
        """The section of :func:`experiments.claim_checks.claims_section` for the claims
        that the grids of ``studies`` test."""
        chosen = [c for c in STUDY_CLAIMS if c.comparisons[0].study in studies]
        grids = {key: self.study.grids(key) for key in studies}
        runs = {stem: self.runs(stem) for stems in grids.values() for stem in stems}
        return claims_section(runs, grids, self.reference, chosen)


def shown(path: Path) -> str:
    """``path`` relative to the repository when inside it, for messages and tables."""
    path = Path(path).resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def figure_title(stem: str, runs: Sequence[Run]) -> str:
    """``<dataset> (<grid>); corruptions: <set>``: what a figure of the grid shows."""
    data = dataset_title(runs[0].info.get("config", {})) if runs else "no runs yet"
    return f"{data} ({stem}); corruptions: {corruption_preset(runs)}"


def by_label(runs: Sequence[Run], axis: str) -> dict[str, list[Run]]:
    """The runs of each label of ``axis``, in first-seen order."""
    return {key[0]: members for key, members in group_runs(runs, [axis]).items()}
