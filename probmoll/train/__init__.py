"""Training: typed configuration, the resumable training engine, DDP, sweeps.

- :mod:`probmoll.train.config` -- :class:`TrainConfig` and its sections (frozen
  dataclasses), YAML files with dotted ``key=value`` overrides, validation (once per
  configuration); :mod:`probmoll.train.checks` -- options against the registries and
  the machine
- :mod:`probmoll.train.engine` -- the paper's training recipe (Sec. 4): run folder,
  epochs, exact resume, SIGINT/SIGTERM, final evaluation; it runs
  :mod:`~probmoll.train.trainer` (one optimiser step: batched FCR, MixUp/CutMix, K
  likelihood samples, mollification, mixed precision, NaN guard),
  :mod:`~probmoll.train.loop` (an epoch, per-epoch evaluation, stop requests),
  :mod:`~probmoll.train.data` (images on the device or memory-mapped),
  :mod:`~probmoll.train.schedule` (learning rate) and :mod:`~probmoll.train.runtime`
  (seeds, device, torch settings, autocast)
- :mod:`probmoll.train.distributed` -- torchrun/DDP bookkeeping
- :mod:`probmoll.train.state` -- RNG states and the run folder's life cycle
- :mod:`probmoll.train.runlog` -- ``log.jsonl``/``log.csv`` and run provenance
- :mod:`probmoll.train.results` -- metric look-ups and mean/std over seeds
- :mod:`probmoll.train.sweep` -- grids of runs (sequential, submitit local or SLURM)
  collected into mean/std tables
- :mod:`probmoll.train.cli` -- ``probmoll train``; ``probmoll sweep`` is in ``sweep``

Names are imported on first use (PEP 562), so that ``import probmoll.train`` imports no
torch: a configuration is read and checked (:mod:`~probmoll.train.config`) without it;
the engine, which needs torch, is imported when one of its names is first used.

See docs/training.md.
"""

from __future__ import annotations

from probmoll.utils.lazy import lazy_exports

# Where each public name is defined: the module imported when the name is first used.
_SOURCES = {
    "ConfigError": "config",
    "DataConfig": "config",
    "EmaConfig": "config",
    "EvalConfig": "config",
    "ModelConfig": "config",
    "NonFiniteLossError": "engine",
    "OptimConfig": "config",
    "RunFolderError": "state",
    "ScheduleConfig": "config",
    "TrainConfig": "config",
    "Trainer": "engine",
    "TrainingInterrupted": "engine",
    "dump_config": "config",
    "evaluate": "engine",
    "load_config": "config",
    "main": "engine",
}

__all__ = [
    "ConfigError",
    "DataConfig",
    "EmaConfig",
    "EvalConfig",
    "ModelConfig",
    "NonFiniteLossError",
    "OptimConfig",
    "RunFolderError",
    "ScheduleConfig",
    "TrainConfig",
    "Trainer",
    "TrainingInterrupted",
    "dump_config",
    "evaluate",
    "load_config",
    "main",
]

__getattr__, __dir__ = lazy_exports(__name__, _SOURCES, __all__)
