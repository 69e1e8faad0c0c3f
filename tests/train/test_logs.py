"""What ``probmoll train`` prints: a bar on a terminal; elsewhere (a file, a pipe, CI) one
line per epoch and a heartbeat, never carriage returns; the run folder at the start,
the resume point on ``--resume`` and a summary at the end."""

import io
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from probmoll.utils.progress import HEARTBEAT_ENV, HEARTBEAT_S, StepProgress, heartbeat_seconds
from tests.helpers import REPO, TINY, load_checkpoint_state, read_json, subprocess_env

EPOCH_LINE = re.compile(r"^epoch (\d+)/(\d+)  step (\d+)/(\d+)  ")


def train(*args, env=None, **popen):
    return subprocess.run(
        [sys.executable, "-m", "probmoll", "train", *args],
        cwd=REPO,
        env=dict(subprocess_env(), **(env or {})),
        capture_output=True,
        text=True,
        timeout=240,
        **popen,
    )


def test_piped_output_is_one_line_per_epoch_and_a_summary(tmp_path):
    run_dir = tmp_path / "run"
    result = train(
        *TINY,
        "progress=true",
        f"out={run_dir}",
        f"data.cache_dir={tmp_path / 'cache'}",
        "eval.corruptions=generated",
        "eval.names=[gaussian_noise]",
        "eval.severities=[1]",
        # A heartbeat at every step, to see that it is a plain line too.
        env={"PROBMOLL_HEARTBEAT_S": "0"},
    )
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stdout and "\r" not in result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"run folder: {run_dir}"
    epochs = [EPOCH_LINE.match(line) for line in lines]
    assert [m.groups() for m in epochs if m] == [("1", "2", "8", "16"), ("2", "2", "16", "16")]
    for line in filter(EPOCH_LINE.match, lines):
        assert re.search(r"train loss \d\.\d+  train error \d+\.\d%", line), line
        assert re.search(r"test error \d+\.\d%  NLL \d\.\d+  ECE \d+\.\d%", line), line
    heartbeats = [line for line in result.stderr.splitlines() if "steps," in line]
    assert len(heartbeats) >= 8, result.stderr  # every step of the two epochs
    assert all(line.startswith("epoch ") for line in heartbeats), heartbeats

    metrics = read_json(run_dir / "metrics.json")
    summary = "\n".join(lines[lines.index("results:") :])
    for name, section in (("clean", metrics["clean"]), ("corrupted", metrics["corrupted"]["mean"])):
        expected = (
            f"{name} error {100 * section['error']:.2f}%  NLL {section['nll']:.3f}  "
            f"ECE {100 * section['ece']:.2f}%"
        )
        assert expected in summary, summary
    for label, name in (("metrics", "metrics.json"), ("report", "report.md")):
        assert re.search(rf"^  {label} +{re.escape(str(run_dir / name))}$", summary, re.M)
    assert re.search(rf"^  checkpoint +{re.escape(str(run_dir / 'checkpoint.pt'))}$", summary, re.M)


def test_resume_says_where_it_starts(tmp_path):
    run_dir = tmp_path / "run"
    run = [*TINY, "epochs=3", "checkpoint_every_steps=1", f"out={run_dir}"]
    process = subprocess.Popen(
        [sys.executable, "-m", "probmoll", "train", *run],
        cwd=REPO,
        env=subprocess_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while not (run_dir / "checkpoint.pt").is_file():
            assert process.poll() is None
            time.sleep(0.01)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    state = load_checkpoint_state(run_dir)
    result = train("--resume", str(run_dir))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == [
        f"run folder: {run_dir}",
        f"resumed at epoch {state['epoch'] + 1}/3, step {state['step']}/24",
    ]
    assert "\r" not in result.stdout + result.stderr


def test_a_terminal_gets_the_bar_and_a_file_does_not():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    for stream, bar in ((Terminal(), True), (io.StringIO(), False)):
        progress = StepProgress(total=4, desc="epoch 1/1", stream=stream, heartbeat_s=3600)
        for _ in range(4):
            progress.update(postfix={"loss": "1.000"})
        progress.close()
        assert ("\r" in stream.getvalue()) == bar, stream.getvalue()
        if not bar:
            assert stream.getvalue() == ""  # no heartbeat due within the hour


def test_heartbeat_interval_from_the_environment(monkeypatch):
    monkeypatch.setenv(HEARTBEAT_ENV, "42")
    assert heartbeat_seconds() == 42
    monkeypatch.setenv(HEARTBEAT_ENV, "soon")
    with pytest.warns(RuntimeWarning, match="soon"):
        assert heartbeat_seconds() == HEARTBEAT_S
    monkeypatch.delenv(HEARTBEAT_ENV)
    assert heartbeat_seconds() == HEARTBEAT_S == 300
