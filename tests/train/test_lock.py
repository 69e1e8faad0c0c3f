"""A run folder is locked while a process trains in it: a second process on the same
folder exits 2 naming the holder, and a run whose process died reads "interrupted"."""

import os
import platform
import signal
import subprocess
import sys
import time

import pytest

from probmoll.cli import main as probmoll_main
from probmoll.train.lock import LOCK_NAME, RunLock, lock_holder
from probmoll.train.state import RunLockedError, lock_run_folder, read_run_status
from tests.helpers import REPO, TINY, probmoll, read_json, subprocess_env

# 3 epochs of 8 steps, a checkpoint after every step.
RUN = [*TINY, "epochs=3", "checkpoint_every_steps=1"]


def start(run_dir):
    return subprocess.Popen(
        [sys.executable, "-m", "probmoll", "train", *RUN, f"out={run_dir}"],
        cwd=REPO,
        env=subprocess_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until_training(run_dir, process, timeout=120.0):
    """Until run.json says "running" and a checkpoint exists."""
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{run_dir} did not start training"
        if (run_dir / "checkpoint.pt").is_file() and read_run_status(run_dir) == "running":
            return
        time.sleep(0.01)


@pytest.fixture
def held_run(tmp_path):
    """A run folder whose training process is alive but stopped (SIGSTOP): it holds the
    lock for as long as the test needs."""
    run_dir = tmp_path / "run"
    process = start(run_dir)
    try:
        wait_until_training(run_dir, process)
        os.kill(process.pid, signal.SIGSTOP)
        yield run_dir, process
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.communicate()


def test_a_second_process_exits_2_naming_the_holder(held_run):
    run_dir, first = held_run
    info = read_json(run_dir / "run.json")
    assert (info["pid"], info["host"]) == (first.pid, platform.node())
    assert read_run_status(run_dir) == "running"
    checkpoint = (run_dir / "checkpoint.pt").read_bytes()
    # A plain `train out=RUN` takes the same path as --overwrite (the lock comes first).
    for args in (["--resume", str(run_dir)], [*RUN, f"out={run_dir}", "--overwrite"]):
        result = probmoll("train", *args)
        assert result.returncode == 2, (args, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert f"pid {first.pid}" in lines[0] and platform.node() in lines[0], lines[0]
        assert "since" in lines[0], lines[0]
    # Nothing of the holder's run was touched (--overwrite would have deleted it).
    assert (run_dir / "checkpoint.pt").read_bytes() == checkpoint
    assert read_json(run_dir / "run.json")["status"] == "running"


def test_a_run_whose_process_died_is_interrupted_and_resumes(held_run):
    run_dir, first = held_run
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    assert read_json(run_dir / "run.json")["status"] == "running"  # it never got to say more
    assert read_run_status(run_dir) == "interrupted"
    assert probmoll_main(["train", "--resume", str(run_dir)]) == 0
    assert read_run_status(run_dir) == "finished"
    info = read_json(run_dir / "run.json")
    assert (info["pid"], info["resumed"]) == (os.getpid(), 1)
    assert not (run_dir / LOCK_NAME).exists()  # released and removed at the end


def test_lock_in_process(tmp_path):
    run_dir = tmp_path / "a" / "run"
    lock = RunLock(run_dir).acquire()
    assert lock_holder(run_dir)["pid"] == os.getpid()
    with pytest.raises(RunLockedError, match=f"pid {os.getpid()}"):
        lock_run_folder(run_dir)
    lock.release()
    assert lock_holder(run_dir) is None
    # The folders the lock created for itself go with it when nothing else was written.
    assert not (tmp_path / "a").exists()
    with RunLock(tmp_path) as again:
        assert again.held
    assert not (tmp_path / LOCK_NAME).exists() and tmp_path.is_dir()


def test_a_stale_status_of_a_folder_without_lock_file_is_interrupted(tmp_path):
    for live in ("running", "trained"):  # "trained": during the final evaluation
        (tmp_path / "run.json").write_text(f'{{"status": "{live}"}}')
        assert read_run_status(tmp_path) == "interrupted"
    (tmp_path / "run.json").write_text('{"status": "finished"}')
    assert read_run_status(tmp_path) == "finished"


FORK_AND_DIE = """
import os, sys, time
from probmoll.train.lock import RunLock
lock = RunLock(sys.argv[1]).acquire()
child = os.fork()  # as a DataLoader worker is
if child == 0:
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)  # let the parent's output end with the parent
    os.dup2(null, 2)
    time.sleep(60)
    os._exit(0)
print(child, flush=True)
os.kill(os.getpid(), 9)
"""


def test_a_forked_child_does_not_keep_a_dead_trainers_lock(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", FORK_AND_DIE, str(tmp_path)],
        cwd=REPO,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr
    child = int(result.stdout)
    try:
        os.kill(child, 0)  # still alive, with a copy of the dead trainer's descriptors
        assert (tmp_path / LOCK_NAME).is_file()
        assert lock_holder(tmp_path) is None
    finally:
        os.kill(child, signal.SIGKILL)
