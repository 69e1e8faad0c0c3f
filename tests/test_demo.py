"""`probmoll demo` end to end on the generated "synthetic" dataset (no files, no network)."""

import json

import pytest

from probmoll.cli import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_demo_writes_figures_and_schedules(tmp_path, capsys):
    argv = ["demo", "--data", "synthetic", "--out", str(tmp_path), "--seed", "1"]
    argv += ["--num-images", "1", "--batch-images", "3", "--curve-images", "4"]
    argv += ["--temperatures", "0.2,0.8"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    for name in ("mollification_grid.png", "mollified_batch.png", "schedules.png"):
        data = (tmp_path / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 5000, name
        assert str(tmp_path / name) in printed
    summary = json.loads((tmp_path / "schedules.json").read_text())
    assert summary["dataset"] == "synthetic" and summary["png_images"] == 4
    t = summary["t"]
    assert t[0] == 0 and t[-1] == 1 and len(t) == 21
    assert summary["gamma_noise"][0] == 0 and summary["gamma_noise"][-1] == pytest.approx(1)
    assert summary["gamma_blur"][10] == pytest.approx(0.5)
    removed = summary["png_information_removed_mean"]
    assert all(0 <= value <= 1 for value in removed) and removed[-1] > removed[0]
    assert not list(tmp_path.glob(".*.tmp")), "atomic writes left temporary files"


@pytest.mark.parametrize(
    "option",
    [["--num-images", "0"], ["--temperatures", "0.5,1.5"], ["--temperatures", "a,b"]],
)
def test_demo_rejects_bad_options(option, capsys):
    with pytest.raises(SystemExit) as error:
        main(["demo", *option])
    assert error.value.code == 2
    assert option[1] in capsys.readouterr().err
