"""Distributed data parallel (DDP) bookkeeping for the training engine.

``probmoll train`` runs unchanged under ``torchrun --nproc_per_node=N`` (one or several
nodes): torchrun sets ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``, and
:func:`init_distributed` then joins the process group (NCCL on CUDA, gloo on CPU) and
pins each process to its local GPU. Without those variables everything here is a no-op
for a single process, so the engine has one code path.

Data is split the way ``torch.utils.data.DistributedSampler`` splits it, but from the
engine's own seeded permutation: every rank draws the same permutation, each global
batch of the permutation is cut into ``world_size`` disjoint contiguous shards and rank
``r`` takes shard ``r`` (:func:`shard_of_batch`).
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

__all__ = [
    "DistributedContext",
    "all_gather_objects",
    "barrier",
    "broadcast_object",
    "destroy_distributed",
    "init_distributed",
    "shard_of_batch",
]


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands in the job."""

    rank: int = 0  # global rank
    local_rank: int = 0  # rank on this node (selects the GPU)
    world_size: int = 1  # number of processes
    backend: str | None = None  # "nccl", "gloo" or None when not distributed

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 writes checkpoints, logs and reports."""
        return self.rank == 0


def init_distributed(device_type: str) -> DistributedContext:
    """Join the process group described by torchrun's environment variables, if any.

    Parameters
    ----------
    device_type : {"cpu", "cuda"}
        Picks the backend (NCCL for CUDA, gloo for CPU) and, for CUDA, pins the process
        to GPU ``LOCAL_RANK``.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistributedContext()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    backend = "nccl" if device_type == "cuda" else "gloo"
    if device_type == "cuda":
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(
            backend=backend,
            rank=rank,
            world_size=world_size,
            timeout=datetime.timedelta(minutes=30),
        )
    return DistributedContext(rank, local_rank, world_size, backend)


def destroy_distributed(context: DistributedContext) -> None:
    """Leave the process group joined by :func:`init_distributed`."""
    if context.is_distributed and dist.is_initialized():
        dist.destroy_process_group()


def barrier(context: DistributedContext) -> None:
    """Wait for every rank (no-op for a single process)."""
    if context.is_distributed:
        dist.barrier()


def broadcast_object(context: DistributedContext, value: Any, source: int = 0) -> Any:
    """Rank ``source``'s ``value`` on every rank (picklable values only)."""
    if not context.is_distributed:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=source)
    return box[0]


def all_gather_objects(context: DistributedContext, value: Any) -> list[Any]:
    """``[value of rank 0, value of rank 1, ...]`` on every rank."""
    if not context.is_distributed:
        return [value]
    gathered: list[Any] = [None] * context.world_size
    dist.all_gather_object(gathered, value)
    return gathered


def shard_of_batch(batch_indices: torch.Tensor, context: DistributedContext) -> torch.Tensor:
    """This rank's contiguous share of one global batch of indices.

    The global batch size must be divisible by the world size (checked when the
    configuration is validated); shards of different ranks are disjoint and together
    make up the batch.
    """
    if not context.is_distributed:
        return batch_indices
    per_rank = batch_indices.shape[0] // context.world_size
    start = context.rank * per_rank
    return batch_indices[start : start + per_rank]
