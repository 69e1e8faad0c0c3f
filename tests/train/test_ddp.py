"""Distributed data parallel on CPU: 2 processes (gloo) through torchrun."""

import json
import subprocess
import sys

import pytest
import torch

from probmoll.models import model_from_checkpoint
from probmoll.train.config import load_config
from probmoll.train.distributed import DistributedContext, shard_of_batch
from probmoll.train.engine import evaluate, load_data
from tests.helpers import REPO, TINY, load_checkpoint_state, read_json, subprocess_env


@pytest.mark.parametrize("world_size", [1, 2, 4])
def test_ranks_get_disjoint_shards_of_each_batch(world_size):
    batch = torch.randperm(64)[:32]
    shards = [
        shard_of_batch(batch, DistributedContext(rank, rank, world_size, "gloo"))
        for rank in range(world_size)
    ]
    assert all(shard.numel() == 32 // world_size for shard in shards)
    assert torch.equal(torch.cat(shards), batch)  # disjoint, and together the whole batch


# `probmoll train` that also records each rank's own training sums [loss * images,
# errors, images] at every epoch end, before they are cleared (not reduced).
RECORDING_TRAIN = """
import json, sys
from pathlib import Path
from probmoll.cli import main
from probmoll.train.engine import Trainer

end_epoch = Trainer.end_epoch

def recording_end_epoch(trainer):
    path = Path(sys.argv[1]) / f"rank{trainer.context.rank}.jsonl"
    with path.open("a") as handle:
        handle.write(json.dumps(trainer.epoch_sums.tolist()) + "\\n")
    end_epoch(trainer)

Trainer.end_epoch = recording_end_epoch
sys.exit(main(["train", *sys.argv[2:]]))
"""


def test_training_and_evaluation_under_two_processes(tmp_path):
    run_dir = tmp_path / "run"
    script = tmp_path / "recording_train.py"
    script.write_text(RECORDING_TRAIN)
    # 63 test images: the two ranks evaluate unequal shares.
    overrides = [*TINY, f"out={run_dir}", "eval.subset=63", "eval.batch_size=10"]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            str(script),
            str(tmp_path),
            *overrides,
        ],
        cwd=REPO,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]

    run_info = read_json(run_dir / "run.json")
    assert run_info["status"] == "finished" and run_info["world_size"] == 2
    state = load_checkpoint_state(run_dir)
    assert len(state["rng"]) == 2  # every rank's random state is kept
    assert not torch.equal(state["rng"][0]["augment"], state["rng"][1]["augment"])
    # The global batch of 32 is split over the ranks: 256 / 32 = 8 steps per epoch.
    rows = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [8, 16]

    # The logged training loss and error are those of the whole global batches: the
    # ranks' sums added (rank 0 alone, which writes the log, saw half of the images).
    ranks = [
        [json.loads(line) for line in (tmp_path / f"rank{rank}.jsonl").read_text().splitlines()]
        for rank in range(2)
    ]
    for row, (local0, local1) in zip(rows, zip(*ranks, strict=True), strict=True):
        assert local0[2] == local1[2] == 8 * 16  # images of each rank in the epoch
        loss_sum, errors, count = (a + b for a, b in zip(local0, local1, strict=True))
        assert row["train_loss"] == pytest.approx(loss_sum / count, rel=1e-12)
        assert row["train_error"] == pytest.approx(errors / count, rel=1e-12)
        assert local0[0] != local1[0]  # the shards differ, so the reduction shows
        assert row["train_loss"] != pytest.approx(local0[0] / local0[2], rel=1e-9)

    # The last per-epoch evaluation ran on 2 processes (each scoring part of the test
    # images, sums all-reduced); one process on the same weights gives the same metrics.
    config = load_config(run_dir / "config.yaml")
    data = load_data(config, torch.device("cpu"), DistributedContext())
    model, info = model_from_checkpoint(run_dir)
    single = evaluate(
        model,
        data.test_images,
        data.test_labels,
        data.mean,
        data.std,
        num_classes=info["num_classes"],
        batch_size=64,
    )
    assert single["count"] == 63
    for name in ("error", "nll", "ece"):
        # float32 logits depend slightly on the batch composition
        assert rows[-1][f"test_{name}"] == pytest.approx(single[name], rel=1e-6, abs=1e-9)
    assert read_json(run_dir / "metrics.json")["clean"]["error"] == single["error"]
