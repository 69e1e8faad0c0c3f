"""Command line: ``probmoll {demo,train,evaluate,corrupt,sweep} ...``.

Each sub-command lives with the code it drives; this module only dispatches.
A sub-command module provides ``add_arguments(parser)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module providing add_arguments/run, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("probmoll.demo", "mollify a batch of real images and write a PNG grid"),
    "train": (
        "probmoll.train.cli",
        "train a classifier from a YAML config with key=value overrides",
    ),
    "evaluate": ("probmoll.evaluate.cli", "evaluate a checkpoint on clean and corrupted data"),
    "corrupt": (
        "probmoll.data.corruptions.cli",
        "generate a corrupted (-C style) copy of a dataset",
    ),
    "sweep": ("probmoll.train.sweep", "run a grid of training runs and collect their results"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="probmoll",
        description="probmoll: robust, calibrated classifiers by data mollification.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(sub_parser)
        sub_parser.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    return int(args._run(args) or 0)
