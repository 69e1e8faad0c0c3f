"""Weights & Biases logging (wandb.enabled): a tiny run logged offline holds the epoch rows
and the final metrics; a missing wandb package fails at configuration time."""

import json
import sys

import pytest

from probmoll.train.config import ConfigError, load_config
from probmoll.train.engine import main
from probmoll.train.wandb_log import wandb_mode
from tests.helpers import TINY, read_json


def wandb_records(path):
    """The records of a ``.wandb`` file: W&B's header (":W&B", magic, version: 7 bytes),
    then LevelDB's log format -- 32 KiB blocks of chunks (crc32 4 bytes, length 2 bytes
    little-endian, type 1 byte: 1 full, 2 first, 3 middle, 4 last) -- each record a
    ``wandb_internal_pb2.Record``."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    block, position, chunks = 32768, 7, []
    while position + 7 <= len(data):
        left = block - position % block
        if left < 7:  # a block's tail too short for a header is padding
            position += left
            continue
        length = int.from_bytes(data[position + 4 : position + 6], "little")
        kind = data[position + 6]
        chunks.append(data[position + 7 : position + 7 + length])
        position += 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(b"".join(chunks))
            chunks = []
            yield record


def history_and_summary(path):
    """The logged rows and the final summary of a ``.wandb`` file (keys are in ``key`` or,
    split at "/", in ``nested_key``)."""

    def values(items):
        return {
            item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in items
        }

    history, summary = [], {}
    for record in wandb_records(path):
        kind = record.WhichOneof("record_type")
        if kind == "history":
            history.append(values(record.history.item))
        elif kind == "summary":
            summary.update(values(record.summary.update))
    return history, summary


def test_offline_run_holds_the_epoch_rows_and_final_metrics(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    run_dir = tmp_path / "run"
    overrides = ["wandb.enabled=true", "wandb.project=tests", "wandb.tags=[tiny]"]
    results = main(load_config(None, [*TINY, f"out={run_dir}", *overrides]))

    record = read_json(run_dir / "run.json")["wandb"]
    assert record["project"] == "tests" and record["url"] is None  # offline
    folders = list((tmp_path / "wandb").glob(f"offline-run-*-{record['id']}"))
    assert [str(folder) for folder in folders] == [record["folder"]]
    history, summary = history_and_summary(folders[0] / f"run-{record['id']}.wandb")

    rows = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in history] == [row["step"] for row in rows] == [8, 16]
    for logged, row in zip(history, rows, strict=True):
        for key in ("epoch", "lr", "train_loss", "train_error", "test_error", "test_nll"):
            assert logged[key] == pytest.approx(row[key], rel=1e-12), key
    for name in ("error", "nll", "ece"):
        assert summary[f"clean/{name}"] == pytest.approx(results["clean"][name], rel=1e-12)
    assert read_json(run_dir / "metrics.json")["run"]["wandb"] == record


@pytest.mark.parametrize(
    "mode,environ,expected",
    [
        ("auto", {}, "offline"),
        ("auto", {"WANDB_API_KEY": "k"}, "online"),
        ("auto", {"WANDB_API_KEY": "k", "WANDB_MODE": "offline"}, None),  # wandb reads it
        ("online", {}, "online"),
        ("offline", {"WANDB_API_KEY": "k"}, "offline"),
    ],
)
def test_mode_auto_is_online_only_with_an_api_key(mode, environ, expected):
    assert wandb_mode(mode, environ) == expected


def test_missing_wandb_package_is_a_config_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` raises ImportError
    with pytest.raises(ConfigError, match=r"wandb.enabled = true needs .*pip install wandb"):
        load_config(None, [*TINY, f"out={tmp_path / 'run'}", "wandb.enabled=true"])
    load_config(None, [*TINY, f"out={tmp_path / 'run'}"])  # not needed when disabled


def test_unknown_mode_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="wandb.mode"):
        load_config(None, [*TINY, f"out={tmp_path / 'run'}", "wandb.mode=disabled"])
