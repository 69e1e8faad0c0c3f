"""Shared pieces of the training tests (imported by them; holds no tests itself).

A tiny run: a width-4 preact-ResNet-18 on 256 synthetic 32x32 gratings (4 classes),
8 steps per epoch, deterministic on one CPU thread, so that a whole training run
through the real command line takes a few seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "experiments" / "configs" / "smoke.yaml"

TINY = [
    "seed=0",
    "epochs=2",
    "batch_size=32",
    "threads=1",
    "deterministic=true",
    "device=cpu",
    "progress=false",
    "log_every=2",
    "checkpoint_every_steps=3",
    "data.name=synthetic",
    "data.options={n: 256, num_classes: 4}",
    "model.name=preact_resnet18",
    "model.kwargs={width: 4}",
    "optim.lr=0.05",
    "eval.corruptions=none",
    "eval.subset=64",
    "eval.batch_size=64",
    "eval.every_epochs=1",
]


def probmoll(*args: str, timeout: float = 240, **popen) -> subprocess.CompletedProcess:
    """``python -m probmoll ARGS`` in a fresh process, from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "probmoll", *args],
        cwd=REPO,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        **popen,
    )


def subprocess_env() -> dict[str, str]:
    """The environment of a child process that must import this checkout of probmoll."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return dict(os.environ, PYTHONPATH=path, OMP_NUM_THREADS="1")


def run_python(code: str, *args: str) -> subprocess.CompletedProcess:
    """Run ``code`` (dedented) in a fresh interpreter on this checkout, from the repository
    root; returns the finished process (stdout and stderr as text). For what only a new
    process shows, e.g. which modules an import loads."""
    import textwrap

    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=REPO,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def load_checkpoint_state(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=True)


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def metric_sections(metrics: dict) -> dict:
    """The measured parts of a metrics.json (not timing or provenance)."""
    return {key: metrics[key] for key in ("clean", "corrupted", "reliability")}


def assert_same_weights(first: dict, second: dict) -> None:
    assert first.keys() == second.keys()
    for name in first:
        assert torch.equal(first[name], second[name]), name


class SyncRecorder(TorchDispatchMode):
    """Records the operators that make the host read device memory (a ``.item()``,
    ``nonzero``, boolean-mask indexing): used as ``with SyncRecorder() as recorder``."""

    def __init__(self):
        super().__init__()
        self.syncs = []
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = str(func)
        self.ops.append(name)
        masks = [a for a in args if isinstance(a, (list, tuple)) for a in a]
        if "_local_scalar_dense" in name or "nonzero" in name or "masked_select" in name:
            self.syncs.append(name)
        elif name.startswith("aten.index") and any(
            isinstance(m, torch.Tensor) and m.dtype == torch.bool for m in masks
        ):
            self.syncs.append(name + " (boolean mask)")
        return func(*args, **kwargs)
