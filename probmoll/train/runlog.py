"""Per-epoch logs (``log.jsonl``, ``log.csv``, optional TensorBoard and Weights & Biases),
run metadata and the lines ``probmoll train`` prints (one per epoch, a summary at the
end)."""

from __future__ import annotations

import csv
import importlib.metadata
import io
import json
import os
import platform
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from probmoll.evaluate import REPORT_FILE
from probmoll.models import CHECKPOINT_NAME
from probmoll.train.state import LOG_CSV_NAME, LOG_JSONL_NAME, METRICS_NAME, TENSORBOARD_NAME
from probmoll.train.wandb_log import WandbLog
from probmoll.utils.io import atomic_write_text

__all__ = ["EpochLog", "environment_info", "epoch_line", "git_commit", "summary_lines"]


def git_commit(path: str | os.PathLike | None = None) -> str | None:
    """Commit hash of the git checkout holding ``path`` (default: probmoll's source).

    ``None`` when the code does not live in a git repository (or git is missing);
    ``"<hash>-dirty"`` when tracked files differ from that commit.
    """
    folder = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=10
        )
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    suffix = "-dirty" if dirty.returncode == 0 and dirty.stdout.strip() else ""
    return commit.stdout.strip() + suffix


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment_info(device: torch.device) -> dict[str, Any]:
    """Versions, host, process and device: what a reader needs to judge a result's
    provenance (``threads`` is torch's thread count at the call)."""
    import probmoll

    packages = {
        "probmoll": probmoll.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    for name in ("torchvision", "numpy", "pyro-ppl", "scipy"):
        packages[name] = _version(name)
    if device.type == "cuda":
        device_name = torch.cuda.get_device_name(device)
    else:
        device_name = platform.processor() or platform.machine()
    return {
        "git_commit": git_commit(),
        "packages": packages,
        "device": {"type": device.type, "name": device_name},
        "cuda": torch.version.cuda,
        "host": platform.node(),
        "pid": os.getpid(),
        "threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "command": sys.argv,
    }


class EpochLog:
    """Append one row per epoch to ``log.jsonl`` and keep ``log.csv`` in step.

    The JSON lines file is the record; the CSV is rewritten from it after every row
    (columns = union of keys, in first-seen order), so the two never disagree. On resume,
    :meth:`truncate` drops the rows of epochs that the checkpoint has not completed (they
    are computed again). Every row also goes to TensorBoard (``tensorboard``) and to a
    W&B run (``wandb``), which :meth:`summarize` gives the final metrics.
    """

    def __init__(
        self,
        run_dir: str | os.PathLike,
        *,
        tensorboard: bool = False,
        wandb: WandbLog | None = None,
    ) -> None:
        self.jsonl_path = Path(run_dir) / LOG_JSONL_NAME
        self.csv_path = Path(run_dir) / LOG_CSV_NAME
        self.rows: list[dict[str, Any]] = []
        if self.jsonl_path.is_file():
            self.rows = [
                json.loads(line) for line in self.jsonl_path.read_text().splitlines() if line
            ]
        self.writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(Path(run_dir) / TENSORBOARD_NAME))
        self.wandb = wandb

    def truncate(self, completed_epochs: int) -> None:
        """Keep only the rows of epochs ``< completed_epochs`` (0-based ``epoch`` field)."""
        self.rows = [row for row in self.rows if row["epoch"] < completed_epochs]
        self._write()

    def append(self, row: Mapping[str, Any]) -> None:
        self.rows.append(dict(row))
        self._write()
        if self.writer is not None:
            for key, value in row.items():
                if isinstance(value, (int, float)) and key not in ("epoch", "step"):
                    self.writer.add_scalar(key, value, global_step=row["step"])
            self.writer.flush()
        if self.wandb is not None:
            self.wandb.log(row)

    def summarize(self, results: Mapping[str, Any]) -> None:
        """The final evaluation's metrics, for the logs that keep a summary (W&B)."""
        if self.wandb is not None:
            self.wandb.summarize(results)

    def _write(self) -> None:
        atomic_write_text(
            self.jsonl_path, "".join(json.dumps(row, allow_nan=True) + "\n" for row in self.rows)
        )
        columns: list[str] = []
        for row in self.rows:
            columns.extend(key for key in row if key not in columns)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_text(self.csv_path, buffer.getvalue())

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.wandb is not None:
            self.wandb.close()


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def epoch_line(row: Mapping[str, Any], *, epochs: int, total_steps: int, batch_size: int) -> str:
    """The line printed at an epoch's end, from its ``log.jsonl`` row.

    ``epoch 3/300  step 1173/117300  lr 0.1  train loss 0.8123  train error 27.4%
    test error 18.2%  NLL 0.5561  ECE 2.3%  2513 images/s`` (errors and ECE in percent;
    the test figures only at epochs with an evaluation).
    """
    parts = [
        f"epoch {row['epoch'] + 1}/{epochs}",
        f"step {row['step']}/{total_steps}",
        f"lr {row['lr']:.4g}",
        f"train loss {row['train_loss']:.4g}",
        f"train error {_percent(row['train_error'])}",
    ]
    if "test_error" in row:
        parts += [
            f"test error {_percent(row['test_error'])}",
            f"NLL {row['test_nll']:.4g}",
            f"ECE {_percent(row['test_ece'])}",
        ]
    if row.get("distinct_images_per_step", batch_size) != batch_size:
        parts.append(f"{row['distinct_images_per_step']} distinct images/step")
    parts.append(f"{row['images_per_s']:.0f} images/s")
    return "  ".join(parts)


def summary_lines(results: Mapping[str, Any], run_dir: str | os.PathLike) -> list[str]:
    """The lines printed when a run has finished: clean and corrupted error, NLL and ECE
    (error and ECE in percent) and where the run's files are."""

    def scores(metrics: Mapping[str, Any]) -> str:
        return (
            f"error {100 * metrics['error']:.2f}%  NLL {metrics['nll']:.3f}  "
            f"ECE {100 * metrics['ece']:.2f}%"
        )

    lines = ["results:"]
    clean = results.get("clean")
    if clean:
        lines.append(f"  clean {scores(clean)}  ({clean['count']} test images)")
    corrupted = results.get("corrupted")
    if corrupted and corrupted.get("mean"):
        names, severities = corrupted.get("corruptions", []), corrupted.get("severities", [])
        lines.append(
            f"  corrupted {scores(corrupted['mean'])}  (mean over {len(names)} "
            f"corruption{'s' * (len(names) != 1)} x {len(severities)} "
            f"severit{'ies' if len(severities) != 1 else 'y'})"
        )
    run_dir = Path(run_dir)
    for label, name in (
        ("metrics", METRICS_NAME),
        ("report", REPORT_FILE),
        ("checkpoint", CHECKPOINT_NAME),
    ):
        lines.append(f"  {label:<10} {run_dir / name}")
    return lines
