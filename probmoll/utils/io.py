"""Files: atomic writes (a reader never sees a half-written file), JSON reading, and an
exclusive file lock for work that two processes must not do at once.

Each writer creates a temporary file in the destination folder, flushes and
fsyncs it, then renames it over the destination (atomic on POSIX), so a process
killed mid-write leaves either the old file or the new one.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

try:
    import fcntl
except ImportError:  # Windows: no flock; nothing is locked there.
    fcntl = None

__all__ = [
    "atomic_torch_save",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "exclusive_file_lock",
    "read_json",
]


def _atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates the file 0600; give it the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    return _atomic_write(path, lambda handle: handle.write(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any, *, indent: int = 2) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically. NaN/inf are refused (not valid JSON)."""
    text = json.dumps(obj, indent=indent, sort_keys=False, allow_nan=False) + "\n"
    return atomic_write_text(path, text)


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` to ``path`` atomically."""
    import torch

    return _atomic_write(path, lambda handle: torch.save(obj, handle))


def read_json(path: str | os.PathLike) -> Any:
    """The JSON document at ``path``.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ValueError
        When it cannot be read or is not valid JSON; the message names the file.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: cannot be read ({error})") from error
    try:
        return json.loads(text)
    except ValueError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from error


@contextlib.contextmanager
def exclusive_file_lock(
    path: str | os.PathLike, *, on_wait: Callable[[], None] | None = None
) -> Iterator[None]:
    """Hold an exclusive :func:`fcntl.flock` on ``path`` (created) for the ``with`` block.

    A second process (or a second open of the file in this one) waits until the holder
    leaves its block; ``on_wait`` is called once before waiting, e.g. to say so. The kernel
    releases the lock when its holder dies, so a lock is never stale; the file stays,
    unlocked and harmless. Without ``fcntl`` (Windows) nothing is locked.
    """
    if fcntl is None:
        yield
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock
