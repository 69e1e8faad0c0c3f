"""Training: typed configuration, the resumable training engine, DDP, sweeps.

- :mod:`probmoll.train.config` -- :class:`TrainConfig` and its sections (frozen
  dataclasses), YAML files with dotted ``key=value`` overrides, validation
- :mod:`probmoll.train.engine` -- the paper's training recipe (Sec. 4): data on the
  device, batched FCR, MixUp/CutMix, K likelihood samples, mollification, mixed
  precision, checkpoints every N steps, exact resume, NaN guard, final evaluation
- :mod:`probmoll.train.distributed` -- torchrun/DDP bookkeeping
- :mod:`probmoll.train.state` -- RNG states and the run folder's life cycle
- :mod:`probmoll.train.runlog` -- ``log.jsonl``/``log.csv`` and run provenance
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
