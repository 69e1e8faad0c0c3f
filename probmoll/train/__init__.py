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

See docs/training.md.
"""

from probmoll.train.config import (
    ConfigError,
    DataConfig,
    EmaConfig,
    EvalConfig,
    ModelConfig,
    OptimConfig,
    ScheduleConfig,
    TrainConfig,
    dump_config,
    load_config,
)
from probmoll.train.engine import NonFiniteLossError, Trainer, TrainingInterrupted, evaluate, main
from probmoll.train.state import RunFolderError

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
