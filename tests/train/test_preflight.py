"""Everything a run needs is checked before its first step.

Both splits load, the test labels lie in the training classes, the corruption set holds
the requested corruptions and severities, the run folder can be written and a resumed
checkpoint can be read. A failure exits with status 2 and one line naming the problem,
trains nothing and leaves no run behind: the same command can be run again once the
input is fixed. Each case goes through the real command line.
"""

import numpy as np
import pytest

from probmoll.models import load_checkpoint
from probmoll.train.state import holds_run
from tests.helpers import read_json
from tests.train.helpers import (
    SYNTHETIC,
    synthetic_test_split,
    train,
    write_cifar_c,
    write_npz_folder,
)


def assert_refused(result, run_dir, *words):
    """Status 2, one line on stderr holding ``words``, no training step and no run."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("probmoll train: error:"), lines[0]
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert "train loss" not in result.stdout  # no epoch ended
    assert not (run_dir / "checkpoint.pt").exists()
    assert not holds_run(run_dir)  # the same command may run again once the input is fixed


# ------------------------------------------------------------------------ the data
def test_npz_classes_come_from_every_split(tmp_path):
    # No class list in the files: the classes are those of all splits' labels, so a test
    # label the training split lacks gets its own output instead of failing at the end.
    data = write_npz_folder(tmp_path / "npz", np.arange(64) % 11, [*range(11), 12, 3, 4])
    run_dir = tmp_path / "run"
    result = train(run_dir, "epochs=1", data=["data.name=npz", f"data.root={data}"])
    assert result.returncode == 0, result.stderr
    assert load_checkpoint(run_dir)["data"]["num_classes"] == 13
    assert read_json(run_dir / "metrics.json")["clean"]["count"] == 14


def test_npz_test_label_outside_the_declared_classes(tmp_path):
    data = write_npz_folder(tmp_path / "npz", np.arange(64) % 11, [*range(11), 12])
    run_dir = tmp_path / "run"
    options = ["data.name=npz", f"data.root={data}", "data.options={num_classes: 11}"]
    result = train(run_dir, data=options)
    assert_refused(result, run_dir, "test.npz", "12", "11 classes")


def test_npz_test_label_outside_the_class_list_of_the_training_file(tmp_path):
    names = [f"class-{k}" for k in range(11)]
    data = write_npz_folder(tmp_path / "npz", np.arange(64) % 11, [0, 12], classes=names)
    run_dir = tmp_path / "run"
    result = train(run_dir, data=["data.name=npz", f"data.root={data}"])
    assert_refused(result, run_dir, "test.npz", "12", "11 classes")


def test_truncated_npz(tmp_path):
    data = write_npz_folder(tmp_path / "npz", np.arange(64) % 4, np.arange(16) % 4)
    path = data / "train.npz"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    run_dir = tmp_path / "run"
    result = train(run_dir, data=["data.name=npz", f"data.root={data}"])
    assert_refused(result, run_dir, str(path), "is truncated or damaged")


def test_npz_member_with_a_bad_checksum(tmp_path):
    # The archive's index is intact (np.load opens it) but the images' bytes are damaged.
    data = write_npz_folder(tmp_path / "npz", np.arange(64) % 4, np.arange(16) % 4)
    path = data / "test.npz"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    run_dir = tmp_path / "run"
    result = train(run_dir, data=["data.name=npz", f"data.root={data}"])
    assert_refused(result, run_dir, str(path), "is truncated or damaged", "'images'")


def test_missing_data_root(tmp_path):
    missing = tmp_path / "no-such-folder"
    run_dir = tmp_path / "run"
    result = train(run_dir, data=["data.name=npz", f"data.root={missing}"])
    assert_refused(result, run_dir, str(missing), "data.root")


# ------------------------------------------------------------------- the corruptions
def test_corruption_folder_without_the_requested_severities(tmp_path):
    corrupted = write_cifar_c(tmp_path / "set", severities=(1, 5))
    run_dir = tmp_path / "run"
    result = train(run_dir, f"eval.corruptions={corrupted}")
    assert_refused(result, run_dir, str(corrupted), "severities", "[2, 3, 4]")
    # The severities it has are enough: the same set then trains and evaluates.
    result = train(run_dir, f"eval.corruptions={corrupted}", "eval.severities=[1, 5]", "epochs=1")
    assert result.returncode == 0, result.stderr
    metrics = read_json(run_dir / "metrics.json")
    assert metrics["corrupted"]["mean"]["count"] == 2 * 64


def test_corruption_folder_without_the_requested_corruption(tmp_path):
    corrupted = write_cifar_c(tmp_path / "set")
    run_dir = tmp_path / "run"
    result = train(run_dir, f"eval.corruptions={corrupted}", "eval.names=[gaussian_noise, fog]")
    assert_refused(result, run_dir, str(corrupted), "fog")


def test_corruption_folder_of_another_image_size(tmp_path):
    corrupted = write_cifar_c(tmp_path / "set", size=40)
    run_dir = tmp_path / "run"
    result = train(run_dir, f"eval.corruptions={corrupted}")
    assert_refused(result, run_dir, "gaussian_noise.npy", "40x40", "32x32")


def test_corruption_folder_of_another_dataset(tmp_path):
    labels = synthetic_test_split().labels.copy()
    labels[3] = 7  # a label the 4-class test split cannot have
    corrupted = write_cifar_c(tmp_path / "set", labels=labels)
    run_dir = tmp_path / "run"
    result = train(run_dir, f"eval.corruptions={corrupted}")
    assert_refused(result, run_dir, "labels.npy")


def test_missing_published_corruption_set(tmp_path):
    run_dir = tmp_path / "run"
    result = train(run_dir, "eval.corruptions=cifar10-c", f"eval.root={tmp_path / 'nothing'}")
    assert_refused(result, run_dir, "CIFAR-10-C not found")


def test_held_out_corruptions_alone_have_no_benchmark_mean(tmp_path):
    run_dir = tmp_path / "run"
    result = train(run_dir, "eval.corruptions=generated", "eval.names=[spatter]")
    assert_refused(result, run_dir, "eval.names", "spatter")


def test_generated_set_needs_images_of_at_least_32_pixels(tmp_path):
    run_dir = tmp_path / "run"
    small = ["data.name=synthetic", "data.options={n: 256, num_classes: 4, size: 16}"]
    result = train(run_dir, "eval.corruptions=generated", data=small)
    assert_refused(result, run_dir, "16x16", "32x32")


# ------------------------------------------------------------ the run folder, resume
def test_run_folder_that_cannot_be_created(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    run_dir = blocker / "run"
    result = train(run_dir)
    assert_refused(result, run_dir, str(run_dir), "cannot write")
    assert blocker.read_text() == "not a folder"


@pytest.mark.parametrize("damage", ["truncated", "empty"])
def test_resume_from_a_damaged_checkpoint(tmp_path, damage):
    run_dir = tmp_path / "run"
    assert train(run_dir, "epochs=1", *SYNTHETIC).returncode == 0
    checkpoint = run_dir / "checkpoint.pt"
    raw = checkpoint.read_bytes()
    checkpoint.write_bytes(raw[: len(raw) // 2] if damage == "truncated" else b"")
    (run_dir / "run.json").write_text('{"status": "interrupted"}\n')
    before = {path.name: path.read_bytes() for path in run_dir.iterdir() if path.is_file()}

    from tests.helpers import probmoll

    result = probmoll("train", "--resume", str(run_dir))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(checkpoint) in lines[0], result.stderr
    assert "truncated or damaged" in lines[0]
    assert "train loss" not in result.stdout
    # Nothing of the run was touched.
    after = {path.name: path.read_bytes() for path in run_dir.iterdir() if path.is_file()}
    assert after == before
