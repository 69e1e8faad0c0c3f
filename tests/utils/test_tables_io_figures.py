"""The small shared helpers: Markdown tables, JSON reading, figure writing, argparse types."""

import argparse
import json

import numpy as np
import pytest

from probmoll.utils.cli import positive_int
from probmoll.utils.figures import new_figure, save_figure
from probmoll.utils.io import atomic_write_json, exclusive_file_lock, read_json
from probmoll.utils.tables import markdown_table


def test_markdown_table_layout_and_cells_as_text():
    text = markdown_table(["run", "error"], [["a", 0.5], [1, None]])
    assert text.split("\n") == ["| run | error |", "|---|---|", "| a | 0.5 |", "| 1 | None |"]


def test_markdown_table_refuses_a_ragged_row():
    with pytest.raises(ValueError, match="a row has 1 cells for 2 columns"):
        markdown_table(["a", "b"], [["only one"]])


def test_read_json_round_trip_and_errors_name_the_file(tmp_path):
    path = atomic_write_json(tmp_path / "ok.json", {"a": [1, 2]})
    assert read_json(path) == {"a": [1, 2]}
    broken = tmp_path / "broken.json"
    broken.write_text('{"a": ')
    with pytest.raises(ValueError, match=r"broken\.json: not valid JSON"):
        read_json(broken)
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ValueError, match=r"binary\.json"):
        read_json(binary)
    with pytest.raises(FileNotFoundError):
        read_json(tmp_path / "missing.json")
    assert json.loads(path.read_text()) == read_json(path)


def test_save_figure_writes_a_png_atomically(tmp_path):
    figure = new_figure(figsize=(2, 2))
    figure.add_subplot().plot([0, 1], [1, 0])
    path = save_figure(figure, tmp_path / "sub" / "figure.png", dpi=50)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in path.parent.iterdir()] == ["figure.png"]  # no temporary left


def test_save_figure_closes_pyplot_figures(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots()
    axis.imshow(np.zeros((2, 2)))
    save_figure(figure, tmp_path / "plot.png")
    assert not plt.fignum_exists(figure.number)


@pytest.mark.parametrize("text,value", [("1", 1), ("12", 12)])
def test_positive_int_accepts(text, value):
    assert positive_int(text) == value


@pytest.mark.parametrize("text", ["0", "-3", "1.5", "x", ""])
def test_positive_int_refuses(text):
    with pytest.raises(argparse.ArgumentTypeError):
        positive_int(text)


def test_exclusive_file_lock_excludes_a_second_holder(tmp_path):
    import fcntl
    import os

    path = tmp_path / "deep" / "set.lock"
    waited = []
    with exclusive_file_lock(path):
        fd = os.open(path, os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):  # held: a second open cannot take it
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
    with exclusive_file_lock(path, on_wait=lambda: waited.append(1)):
        pass  # free again, taken without waiting
    assert waited == [] and path.is_file()
