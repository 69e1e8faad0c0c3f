"""Command line, tables and output files shared by the paper_appendix scripts.

Figures are written with :func:`probmoll.utils.figures.save_figure`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from probmoll.utils.io import atomic_write_json, atomic_write_text
from probmoll.utils.tables import markdown_table

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "output"


def parse_args(description: str, argv: list[str] | None) -> argparse.Namespace:
    """``--fast`` (fewer draws, for tests) and ``--out`` (output folder)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--fast", action="store_true", help="fewer draws; a few seconds")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUTPUT, help=f"output folder (default {DEFAULT_OUTPUT})"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    return parser.parse_args(argv)


def number_table(header: list[str], rows: list[list]) -> str:
    """A Markdown table (:func:`probmoll.utils.tables.markdown_table`) ending in a newline.

    Floats are written with 4 significant digits and ``|`` is escaped, since a bare ``|``
    would split a cell.
    """

    def cell(value) -> str:
        text = f"{value:.4g}" if isinstance(value, float) else str(value)
        return text.replace("|", "\\|")

    return (
        markdown_table([cell(v) for v in header], [[cell(v) for v in row] for row in rows]) + "\n"
    )


def write_outputs(out: Path, name: str, results: dict, markdown: str) -> None:
    """``<out>/<name>.json`` (all numbers) and ``<out>/<name>.md`` (the tables).

    A ``conclusions`` mapping in ``results`` is listed at the end of the Markdown.
    """
    if "conclusions" in results:
        markdown += "\n## Conclusions\n\n"
        markdown += "".join(f"- {key}: {value}\n" for key, value in results["conclusions"].items())
    atomic_write_json(out / f"{name}.json", results)
    atomic_write_text(out / f"{name}.md", markdown)
    print(markdown)
    print(f"wrote {out / name}.json and .md")
