"""Command line and output files shared by the paper_appendix scripts."""

from __future__ import annotations

import argparse
from pathlib import Path

from probmoll.utils.io import atomic_write_json, atomic_write_text

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


def markdown_table(header: list[str], rows: list[list]) -> str:
    """A Markdown table; floats in 4 significant digits."""

    def cell(value):
        text = f"{value:.4g}" if isinstance(value, float) else str(value)
        return text.replace("|", "\\|")  # a bare | would split the cell

    lines = ["| " + " | ".join(map(cell, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def save_figure(figure, path: Path) -> None:
    """Save a matplotlib figure as PNG (creating the folder) and close it."""
    import matplotlib.pyplot as plt

    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)


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
