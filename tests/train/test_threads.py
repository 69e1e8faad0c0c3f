"""Thread counts that never oversubscribe the CPUs: the default follows the cores this
process may use, DataLoader workers compute on one thread, run.json records the count."""

import dataclasses
import os

import pytest
import torch

from probmoll.train.config import load_config
from probmoll.train.distributed import DistributedContext
from probmoll.train.engine import Trainer, load_data, main
from probmoll.train.runtime import available_cores, resolve_threads
from tests.helpers import SMOKE, TINY, read_json


def fake_topology(root, siblings):
    """A sysfs cpu folder where CPU ``n`` shares its core with ``siblings[n]``."""
    for cpu, core in enumerate(siblings):
        folder = root / f"cpu{cpu}" / "topology"
        folder.mkdir(parents=True)
        (folder / "core_cpus_list").write_text(core + "\n")
    return root


def test_physical_cores_of_hyper_threaded_cpus(tmp_path, monkeypatch):
    root = fake_topology(tmp_path, ["0,4", "1,5", "2,6", "3,7", "0,4", "1,5", "2,6", "3,7"])
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    assert available_cores(sysfs=root) == 4
    # Only CPUs 0, 4 (one core) and 1 (another) are ours: two cores.
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 4, 1})
    assert available_cores(sysfs=root) == 2
    # Without a readable topology the CPUs allowed are the count.
    assert available_cores(sysfs=tmp_path / "missing") == 3


@pytest.mark.parametrize("local_world_size", [None, "1", "2", "3", "64"])
def test_default_never_exceeds_the_cpus_allowed(monkeypatch, local_world_size):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    if local_world_size is None:
        monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    else:
        monkeypatch.setenv("LOCAL_WORLD_SIZE", local_world_size)
    allowed = len(os.sched_getaffinity(0))
    threads = resolve_threads(None)
    assert 1 <= threads <= max(1, allowed // int(local_world_size or 1))
    assert threads == max(1, available_cores() // int(local_world_size or 1))
    assert resolve_threads(3) == 3  # a chosen count is kept
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert resolve_threads(None) == 1  # as is the environment's choice


def test_run_json_records_the_threads(tmp_path, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    quick = [*TINY, "epochs=1", "max_steps=2", "eval.every_epochs=0"]
    for threads, expected in (("1", 1), ("null", resolve_threads(None))):
        run_dir = tmp_path / threads
        main(load_config(None, [*quick, f"threads={threads}", f"out={run_dir}"]))
        assert read_json(run_dir / "run.json")["threads"] == expected
        assert read_json(run_dir / "metrics.json")["run"]["threads"] == expected


def report_threads(image):
    """A per-image "policy" that writes the worker's torch thread count into the image."""
    return torch.full_like(image, torch.get_num_threads())


def test_dataloader_workers_compute_on_one_thread(tmp_path):
    config = load_config(
        None, [*TINY, f"out={tmp_path}", "augment.policy=fcr+randaug", "data.workers=1"]
    )
    data = load_data(config, torch.device("cpu"), DistributedContext())
    trainer = Trainer(config, data, torch.device("cpu"), DistributedContext())
    trainer.augmentation = dataclasses.replace(trainer.augmentation, image_transform=report_threads)
    saved = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        batches = list(trainer.epoch_batches())
    finally:
        torch.set_num_threads(saved)
    assert all(torch.all(images == 1) for images, _ in batches)


def test_smoke_config_uses_one_thread():
    assert load_config(SMOKE).threads == 1
