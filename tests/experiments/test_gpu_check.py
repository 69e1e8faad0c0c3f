"""experiments/gpu_check.sh: it stops at once without a GPU, and its dry run (the same code
on the CPU, tiny sizes) writes every result the GPU check reports."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
from pathlib import Path

import pytest

from probmoll.train.config import load_config
from tests.helpers import subprocess_env

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "experiments" / "gpu_check.sh"


def run_script(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SCRIPT), *args],
        cwd=REPO,
        env=subprocess_env() | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_without_a_cuda_device_it_stops_at_once(tmp_path):
    result = run_script(str(tmp_path / "out"), CUDA_VISIBLE_DEVICES="")
    assert result.returncode == 3, result.stderr
    assert "no CUDA device" in result.stderr and "--dry-run" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_missing_data_file_or_an_earlier_check_is_refused(tmp_path):
    missing = run_script(str(tmp_path / "out"), "--dry-run", "--data", str(tmp_path / "no.zip"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "summary.json").write_text("{}")
    again = run_script(str(tmp_path / "out"), PROBMOLL_GPU_CHECK_CPU="1")
    assert again.returncode == 2 and "--overwrite" in again.stderr


@pytest.mark.slow
def test_dry_run_writes_throughput_and_both_table1_runs(tmp_path, monkeypatch):
    # In this process (the two training runs are still `probmoll train` processes).
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("PYTHONPATH", subprocess_env()["PYTHONPATH"])
    spec = importlib.util.spec_from_file_location(
        "experiments_gpu_check", SCRIPT.with_suffix(".py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "out"
    assert module.main([str(out), "--dry-run", "--cache-dir", str(tmp_path / "cache")]) == 0

    speed = json.loads((out / "throughput.json").read_text())
    assert speed["model"] == "preact_resnet50" and speed["precision"] == "bf16"
    assert speed["channels_last"] is True and speed["augment"] == "fcr"
    assert speed["mollify"]["enabled"] is True
    assert all(rate > 0 for rates in speed["images_per_s"].values() for rate in rates)
    off, on = speed["median_images_per_s"]["off"], speed["median_images_per_s"]["on"]
    assert math.isclose(speed["overhead_percent"], 100 * (off / on - 1))
    assert speed["mollifier_call_ms"] > 0 and speed["table1_model"] == "preact_resnet18"

    config = load_config(out / "table1.yaml")
    assert (config.model.name, config.augment.policy, config.epochs) == (
        "preact_resnet18",
        "fcr",
        1,
    )
    assert config.eval.corruptions == "generated" and config.data.cache_dir == str(
        tmp_path / "cache"
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dry_run"] is True and summary["table1"]["epochs"] == 1
    runs = summary["table1"]["runs"]
    assert set(runs) == {"fcr-moll-off", "fcr-moll-on"}
    for name, mollify in (("fcr-moll-off", False), ("fcr-moll-on", True)):
        run = runs[name]
        assert run["exit_status"] == 0 and run["status"] == "finished", run
        assert 0 <= run["clean"]["error"] <= 1 and 0 <= run["corrupted"]["error"] <= 1
        saved = json.loads((out / "runs" / name / "run.json").read_text())
        assert saved["config"]["mollify"]["enabled"] is mollify
        assert saved["config"]["model"]["name"] == "preact_resnet18"
    assert "| off |" in (out / "summary.md").read_text()
