"""Where and how a run computes: seeds of its random streams, the device, torch's global
settings (threads, determinism, cuDNN/TF32) and mixed-precision autocast."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from probmoll.train.config import TrainConfig

__all__ = [
    "AUGMENT_STREAM",
    "TORCH_STREAM",
    "WORKER_STREAM",
    "available_cores",
    "derive_seed",
    "precision_autocast",
    "precision_dtype",
    "resolve_device",
    "resolve_threads",
    "torch_settings",
    "worker_init",
]

# Purposes of the derived seeds (a part of every derive_seed call), so that no two
# streams of a run coincide: the augmentation/mollification generator of each rank,
# torch's global generator of each rank, the seed of each batch of the DataLoader workers.
AUGMENT_STREAM, TORCH_STREAM, WORKER_STREAM = 1, 2, 3


def derive_seed(*parts: int) -> int:
    """A 63-bit seed that depends on every part (seed, purpose, rank, epoch, ...).

    Parameters
    ----------
    *parts : int
        Non-negative integers, e.g. ``(config.seed, AUGMENT_STREAM, rank)``.

    Returns
    -------
    int
        In ``[0, 2**63)``, from :class:`numpy.random.SeedSequence` (well mixed: seeds of
        nearby parts give unrelated streams).
    """
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(2, np.uint64)[0] >> 1)


_SYSFS_CPU = Path("/sys/devices/system/cpu")


def available_cores(*, sysfs: str | os.PathLike = _SYSFS_CPU) -> int:
    """Physical cores this process may run on.

    The CPUs of the process's affinity mask (:func:`os.sched_getaffinity`: what
    ``taskset``, SLURM's ``--cpus-per-task`` or a container's cpuset allow), counted once
    per physical core when Linux's topology (``cpuN/topology/core_cpus_list``, or
    ``thread_siblings_list`` on older kernels) says which of them are hyper-threads of
    one core. Without a readable topology, or without affinity masks (macOS), every CPU
    allowed counts.
    """
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # no affinity masks on this platform
        return max(1, os.cpu_count() or 1)
    cores = set()
    for cpu in cpus:
        topology = Path(sysfs) / f"cpu{cpu}" / "topology"
        for name in ("core_cpus_list", "thread_siblings_list"):
            try:
                cores.add((topology / name).read_text().strip())
                break
            except OSError:
                continue
        else:
            return max(1, len(cpus))  # the topology is unknown: count the CPUs allowed
    return max(1, len(cores))


def resolve_threads(threads: int | None) -> int:
    """torch's CPU thread count for ``config.threads``.

    A number is kept. ``None`` takes ``OMP_NUM_THREADS`` when the environment sets it
    (as torchrun and many cluster scripts do), else the physical cores available to
    this process (:func:`available_cores`) divided by the processes on this node
    (``LOCAL_WORLD_SIZE`` under torchrun). torch's own default counts every CPU of the
    machine; more threads than cores spin against each other and against any other work,
    which made a 2-core smoke run several times slower than one thread.
    """
    if threads is not None:
        return int(threads)
    chosen = os.environ.get("OMP_NUM_THREADS", "").strip()
    if chosen.isdigit() and int(chosen) >= 1:
        return int(chosen)
    local_processes = os.environ.get("LOCAL_WORLD_SIZE", "1").strip()
    local_processes = int(local_processes) if local_processes.isdigit() else 1
    return max(1, available_cores() // max(1, local_processes))


def worker_init(worker_id: int) -> None:
    """``worker_init_fn`` of the engine's DataLoaders: one torch thread per worker process.

    The workers already run in parallel, one per CPU they were given; threads inside
    each would oversubscribe the CPUs.
    """
    torch.set_num_threads(1)


def resolve_device(name: str) -> torch.device:
    """The device of ``config.device``: ``"auto"`` -> CUDA when available, else CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


@contextlib.contextmanager
def torch_settings(config: TrainConfig, device: torch.device) -> Iterator[None]:
    """Threads (:func:`resolve_threads`), determinism and cuDNN/TF32 flags for the run;
    restored afterwards.

    Restoring matters when ``main`` runs inside a longer-lived process (a sweep, tests).
    """
    saved = (
        torch.get_num_threads(),
        torch.are_deterministic_algorithms_enabled(),
        torch.backends.cudnn.benchmark,
        torch.backends.cudnn.deterministic,
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
    )
    torch.set_num_threads(resolve_threads(config.threads))
    if config.deterministic:
        # cuBLAS needs this before its first use to be deterministic.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    try:
        yield
    finally:
        torch.set_num_threads(saved[0])
        torch.use_deterministic_algorithms(saved[1])
        (
            torch.backends.cudnn.benchmark,
            torch.backends.cudnn.deterministic,
            torch.backends.cuda.matmul.allow_tf32,
            torch.backends.cudnn.allow_tf32,
        ) = saved[2:]


def precision_autocast(
    config: TrainConfig, device: torch.device
) -> contextlib.AbstractContextManager:
    """The autocast context of ``config.precision`` on ``device``.

    ``"fp32"``: nothing (a null context); ``"bf16"``/``"fp16"``: :class:`torch.autocast`
    to that dtype. A new context every call (they are not reentrant).
    """
    dtype = precision_dtype(config.precision)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def precision_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype of a ``precision`` setting: None for ``"fp32"`` (no autocast),
    ``torch.bfloat16`` for ``"bf16"``, ``torch.float16`` for ``"fp16"``."""
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
