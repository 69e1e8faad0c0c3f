"""One process at a time in a run folder: an OS file lock on ``RUN/run.lock``.

A training process takes an exclusive :func:`fcntl.flock` on ``run.lock`` before it
looks at the folder and holds it to the end of the final evaluation. The kernel releases
the lock when the process ends in any way (SIGKILL, an out-of-memory kill; on NFS the
locks of a lost node expire with its lease), so a lock is never stale: a folder whose
``run.json`` says ``"running"`` but whose lock is free belongs to a process that died.
The holder writes its pid, host and start time into the lock file, so a second process
can name it.

The lock file is removed when the lock is released; after a crash it stays, unlocked and
harmless. flock works on local file systems and on NFS (Linux emulates it with NFS
byte-range locks); where a file system refuses locks the run goes on unlocked, with a
warning. POSIX only: ``fcntl`` does not exist on Windows, where probmoll does not lock.
"""

from __future__ import annotations

import datetime
import errno
import json
import os
import platform
import time
import warnings
import weakref
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: no flock; runs there are not locked.
    fcntl = None

__all__ = ["LOCK_NAME", "RunLock", "describe_holder", "is_locked", "lock_holder"]

LOCK_NAME = "run.lock"
# How long acquire() keeps trying before it reports the folder as taken: a process that
# only looks (is_locked) holds the lock for microseconds, a training process for hours.
_RETRY_S = 1.0
# The locks this process holds. A forked child (a DataLoader worker) inherits their
# descriptors, and a flock lasts while any copy is open: the child closes its copies,
# so that workers outliving a killed trainer do not keep its folder locked.
_HELD: weakref.WeakSet[RunLock] = weakref.WeakSet()


def _forget_in_child() -> None:
    for lock in list(_HELD):
        if lock._fd is not None:
            os.close(lock._fd)  # the child's copy; the parent's lock stays
        lock._fd, lock.held = None, False
    _HELD.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)


class RunLock:
    """The exclusive lock of a run folder (a context manager).

    Parameters
    ----------
    run_dir : path
        The run folder; it (and its parents) are created when missing, and removed again
        on :meth:`release` when the lock was all that was written in them.

    Attributes
    ----------
    held : bool
        Whether this object holds the lock (False on platforms without ``fcntl``, and
        on file systems that refuse locks).
    holder : dict or None
        After a failed :meth:`acquire`: the holder's ``pid``, ``host`` and ``since`` as
        it wrote them (None when it had not written them yet).
    """

    def __init__(self, run_dir: str | os.PathLike) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self.held = False
        self.holder: dict[str, Any] | None = None
        self._fd: int | None = None
        self._created: list[Path] = []

    def try_acquire(self) -> bool:
        """Take the lock if it is free; False when another process holds it.

        Raises
        ------
        OSError
            When the folder cannot be created or the lock file not written (e.g. no
            permission).
        """
        if fcntl is None or self.held:
            return True
        self._make_folder()
        deadline = time.monotonic() + _RETRY_S
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:
                os.close(fd)
                if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    warnings.warn(
                        f"cannot lock {self.path} ({error.strerror}); training without a "
                        "lock: make sure no other process uses this run folder",
                        RuntimeWarning,
                        stacklevel=2,
                    )
                    return True
                if time.monotonic() >= deadline:
                    self.holder = lock_holder(self.run_dir)
                    return False
                time.sleep(0.05)
                continue
            # The previous holder may have removed the file between our open and flock:
            # then we locked a file nobody else will open. Start again on the new one.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        holder = {
            "pid": os.getpid(),
            "host": platform.node(),
            "since": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        }
        # Written in place (a rename would swap the locked file for an unlocked one).
        os.ftruncate(fd, 0)
        os.write(fd, (json.dumps(holder) + "\n").encode())
        self._fd, self.held = fd, True
        _HELD.add(self)
        return True

    def acquire(self) -> RunLock:
        """Take the lock or raise :class:`BlockingIOError` naming the holder."""
        if not self.try_acquire():
            raise BlockingIOError(errno.EWOULDBLOCK, describe_holder(self.run_dir, self.holder))
        return self

    def release(self) -> None:
        """Remove the lock file and release the lock (idempotent)."""
        if self._fd is not None:
            # Unlink before unlocking: a process waiting on this file then sees that it
            # is gone (try_acquire's inode check) instead of taking a dead file's lock.
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None
        self.held = False
        _HELD.discard(self)
        for folder in self._created:  # deepest first
            try:
                folder.rmdir()  # only when empty: nothing but the lock was written
            except OSError:
                break
        self._created = []

    def _make_folder(self) -> None:
        missing = []  # the folders this lock creates, deepest first
        folder = self.run_dir
        while not folder.exists() and folder != folder.parent:
            missing.append(folder)
            folder = folder.parent
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._created = missing

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def __del__(self) -> None:
        if self._fd is not None:
            os.close(self._fd)


def is_locked(run_dir: str | os.PathLike) -> bool | None:
    """Whether a process holds the lock of ``run_dir`` (this one included).

    None when it cannot be told (no ``fcntl``; a file system that refuses locks).
    """
    if fcntl is None:
        return None
    try:
        fd = os.open(Path(run_dir) / LOCK_NAME, os.O_RDONLY)
    except FileNotFoundError:
        return False
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as error:
        return True if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES) else None
    finally:
        os.close(fd)  # also releases the shared lock if it was taken
    return False


def lock_holder(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """``pid``, ``host`` and ``since`` of the process holding the lock of ``run_dir``;
    None when the lock is free."""
    if not is_locked(run_dir):
        return None
    try:
        holder = json.loads((Path(run_dir) / LOCK_NAME).read_text())
    except (OSError, ValueError):
        return {}  # taken a moment ago: its holder has not written its name yet
    return holder if isinstance(holder, dict) else {}


def describe_holder(run_dir: str | os.PathLike, holder: dict[str, Any] | None) -> str:
    """One line saying who trains in ``run_dir`` and what to do about it."""
    holder = holder or {}
    pid, host, since = holder.get("pid", "?"), holder.get("host", "?"), holder.get("since", "?")
    return (
        f"{str(run_dir)!r} is in use: pid {pid} on host {host} trains in it since {since}; "
        "wait for it to end or stop it first (a stopped run continues with --resume)"
    )
