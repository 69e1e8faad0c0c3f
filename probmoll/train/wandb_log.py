"""Weights & Biases logging of a training run (``wandb.enabled``), beside ``log.jsonl``.

:class:`WandbConfig` is the ``wandb`` section of a run's configuration (torch- and
wandb-free, like every section); :class:`WandbLog` opens the W&B run and receives what
:class:`~probmoll.train.runlog.EpochLog` writes: one row per epoch (logged against the
optimiser ``step``), then the final metrics as the run's summary. The W&B run's id is
kept in ``run.json``, so that ``probmoll train --resume`` continues the same W&B run.

Without internet (or without an API key, in ``mode: auto``) the run is logged offline,
under ``RUN/wandb/offline-run-*`` (or ``$WANDB_DIR/wandb`` when that is set), and
``wandb sync RUN/wandb/offline-run-*`` uploads it later.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = ["WandbConfig", "WandbLog", "start_wandb", "wandb_mode"]


@dataclass(frozen=True)
class WandbConfig:
    """Weights & Biases logging: the epoch rows, the final metrics and the resolved
    configuration."""

    # Log the run to W&B (needs the wandb package).
    enabled: bool = False
    # "auto": what WANDB_MODE says when it is set, else "online" when WANDB_API_KEY is
    # set and "offline" otherwise (upload later with `wandb sync`); "online" or
    # "offline" force one.
    mode: Literal["auto", "online", "offline"] = "auto"
    # W&B project.
    project: str = "probmoll"
    # W&B entity: a team or user (None: the account's default).
    entity: str | None = None
    # Run name (None: the run folder's name).
    name: str | None = None
    # Group of runs, e.g. a sweep's name (None: none).
    group: str | None = None
    # Tags of the run.
    tags: tuple[str, ...] = ()


def wandb_mode(mode: str, environ: Mapping[str, str] = os.environ) -> str | None:
    """The ``mode`` to pass to ``wandb.init`` for ``wandb.mode`` (None: let wandb read
    ``WANDB_MODE``)."""
    if mode != "auto":
        return mode
    if environ.get("WANDB_MODE"):
        return None
    return "online" if environ.get("WANDB_API_KEY") else "offline"


def _scalars(values: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The numbers of a (nested) mapping, keys joined with "/"."""
    flat: dict[str, float] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            flat.update(_scalars(value, f"{prefix}{key}/"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[f"{prefix}{key}"] = value
    return flat


class WandbLog:
    """A W&B run for a training run folder.

    Parameters
    ----------
    settings : WandbConfig
        The run's ``wandb`` section.
    run_dir : path
        The run folder: the default run name, and where W&B writes (``RUN/wandb/``)
        unless ``WANDB_DIR`` is set.
    config : mapping
        The resolved configuration, logged as the W&B run's config.
    run_id : str, optional
        The id of the W&B run to continue (a resumed run's, from ``run.json``).
    """

    def __init__(
        self,
        settings: WandbConfig,
        run_dir: str | os.PathLike,
        config: Mapping[str, Any],
        run_id: str | None = None,
    ) -> None:
        import wandb

        run_dir = Path(run_dir)
        self.run = wandb.init(
            project=settings.project,
            entity=settings.entity,
            name=settings.name or run_dir.resolve().name,
            group=settings.group,
            tags=list(settings.tags) or None,
            config=dict(config),
            mode=wandb_mode(settings.mode),
            id=run_id,
            resume="allow" if run_id else None,
            dir=None if os.environ.get("WANDB_DIR") else str(run_dir),
        )
        # Rows are logged against the optimiser step (a resumed run logs again the
        # epoch it had not finished, at steps W&B has already seen).
        self.run.define_metric("*", step_metric="step")

    def record(self) -> dict[str, Any]:
        """What ``run.json`` keeps of the W&B run: its ``id``, ``project``, ``url`` (None
        offline) and the ``folder`` of its local files."""
        return {
            "id": self.run.id,
            "project": self.run.project,
            "url": self.run.url,
            "folder": str(Path(self.run.dir).parent),
        }

    def log(self, row: Mapping[str, Any]) -> None:
        """One epoch's row of ``log.jsonl``."""
        self.run.log(_scalars(row))

    def summarize(self, results: Mapping[str, Any]) -> None:
        """The final evaluation's clean metrics and corrupted mean, as ``clean/error``,
        ``corrupted/error``, ... in the run's summary."""
        summary = {"clean": results.get("clean") or {}}
        corrupted = results.get("corrupted") or {}
        if corrupted.get("mean"):
            summary["corrupted"] = corrupted["mean"]
        self.run.summary.update(_scalars(summary))

    def close(self) -> None:
        self.run.finish()


def start_wandb(
    settings: WandbConfig,
    run_dir: str | os.PathLike,
    config: Mapping[str, Any],
    run_info: dict[str, Any],
) -> WandbLog | None:
    """The W&B run of a training run when ``settings.enabled`` (None otherwise): the one
    ``run_info`` (``run.json``) names when the run is resumed, else a new one, recorded
    in ``run_info["wandb"]``."""
    if not settings.enabled:
        return None
    log = WandbLog(settings, run_dir, config, run_id=(run_info.get("wandb") or {}).get("id"))
    run_info["wandb"] = log.record()
    return log
