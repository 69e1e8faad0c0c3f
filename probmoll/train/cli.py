"""``probmoll train``: train and evaluate one run from a YAML config plus overrides.

Examples
--------
::

    probmoll train --config experiments/configs/fmnist-small.yaml
    probmoll train --config experiments/configs/fmnist-small.yaml \\
        likelihood.estimator=durbin_koopman likelihood.k=4 out=runs/dk
    probmoll train --resume runs/dk                  # continue after a crash or SIGTERM
    probmoll train --resume runs/dk eval.corruptions=cifar10-c   # redo a failed evaluation
    torchrun --nproc_per_node=4 -m probmoll train --config experiments/configs/cifar10.yaml

Exit status: 0 when the run finished (or was already finished with ``--resume``),
1 when training failed (e.g. a non-finite loss), 2 for an invalid configuration or a
run folder that must not be overwritten, 128 + signal number after SIGINT/SIGTERM
(a checkpoint was written first).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# Light imports only (no torch): a configuration error is reported at once; the engine
# (torch, the registries) is imported by run once the configuration is valid.
from probmoll.train.config import (
    ConfigError,
    TrainConfig,
    dump_config,
    load_config,
    load_resume_config,
)

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``probmoll train``."""
    parser.add_argument(
        "--config",
        metavar="YAML",
        help="configuration file (e.g. experiments/configs/smoke.yaml or RUN/config.yaml)",
    )
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="dotted overrides parsed as YAML, e.g. likelihood.k=4 mollify.enabled=false",
    )
    parser.add_argument(
        "--resume",
        metavar="RUN",
        help="continue the run in folder RUN from its checkpoint, with its own config.yaml; "
        "only eval.*, threads, device and progress may be overridden (a run whose final "
        "evaluation failed goes straight to the evaluation)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a run that already exists in the run folder",
    )
    parser.add_argument(
        "--print-config",
        action="store_true",
        help="validate the configuration, print the resolved YAML and exit without training",
    )


def run(args: argparse.Namespace) -> int:
    """Run ``probmoll train``; returns the exit status."""
    try:
        config = _read_config(args)
        if args.print_config:
            sys.stdout.write(dump_config(config))
            return 0
        from probmoll.train.engine import main

        main(config, resume=args.resume is not None, overwrite=args.overwrite)
    except ConfigError as error:  # matched first: reporting it imports nothing more
        print(f"probmoll train: error: {error}", file=sys.stderr)
        return 2
    except Exception as error:
        status = _failure_status(error)
        if status is None:
            raise
        return status
    return 0


def _read_config(args: argparse.Namespace) -> TrainConfig:
    """The validated configuration of a new run (``--config``) or of ``--resume RUN``."""
    if args.resume is None:
        return load_config(args.config, args.overrides)
    if args.config is not None:
        raise ConfigError(
            "--resume continues a run with its own config.yaml; drop --config "
            "(or start a new run with out=...)"
        )
    if args.overwrite:
        raise ConfigError("--resume and --overwrite exclude each other")
    from probmoll.train.state import CONFIG_NAME, RunFolderError

    config_path = Path(args.resume) / CONFIG_NAME
    if not config_path.is_file():
        raise RunFolderError(f"cannot resume: {str(config_path)!r} does not exist")
    # The folder may have moved since the run started: it is where the run is.
    return load_resume_config(args.resume, args.overrides)


def _failure_status(error: Exception) -> int | None:
    """The exit status of ``error`` after printing it, or None when it is not one of
    the run's own failures (then it propagates to ``probmoll``'s handler)."""
    from probmoll.train.engine import NonFiniteLossError, TrainingInterrupted
    from probmoll.train.state import RunFolderError

    if isinstance(error, RunFolderError):
        print(f"probmoll train: error: {error}", file=sys.stderr)
        return 2
    if isinstance(error, NonFiniteLossError):
        print(f"probmoll train: error: {error}", file=sys.stderr)
        return 1
    if isinstance(error, TrainingInterrupted):
        print(f"probmoll train: {error}", file=sys.stderr)
        return 128 + error.signum
    return None
