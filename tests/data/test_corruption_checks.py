"""``check_cells`` and ``check_corruption_set``: what an evaluation will ask of a
corruption set, checked from file headers and folders before any image is read."""

import json

import numpy as np
import pytest
from PIL import Image

from probmoll.data import DatasetSplit, load_dataset
from probmoll.data.corruptions import CorruptedDataset, check_corruption_set, open_corruptions


def write_set(root, names=("fog", "spatter"), n=4, size=32, severities=(1, 2, 3, 4, 5)):
    root.mkdir(parents=True)
    labels = np.arange(n) % 3
    np.save(root / "labels.npy", np.tile(labels, len(severities)))
    for name in names:
        np.save(root / f"{name}.npy", np.zeros((len(severities) * n, size, size, 3), np.uint8))
    if tuple(severities) != (1, 2, 3, 4, 5):
        (root / "manifest.json").write_text(json.dumps({"severities": list(severities)}))
    return labels


def clean_split(labels, size=32):
    labels = np.asarray(labels, dtype=np.int64)
    images = np.zeros((len(labels), size, size, 3), np.uint8)
    return DatasetSplit("fixture", "test", images, labels, tuple("abc"), (0.5,) * 3, (0.2,) * 3)


def test_cells_are_those_the_evaluation_takes(tmp_path):
    write_set(tmp_path / "c")
    found = CorruptedDataset(tmp_path / "c")
    assert found.check_cells(None, [1, 5]) == [("fog", 1), ("fog", 5)]
    cells = found.check_cells(None, [2], include_heldout=True)
    assert cells == [("fog", 2), ("spatter", 2)]
    assert found.check_cells(["spatter", "fog"], [3]) == [("spatter", 3), ("fog", 3)]


def test_missing_severities_corruptions_and_benchmark_are_named(tmp_path):
    write_set(tmp_path / "c", severities=(1, 5))
    found = CorruptedDataset(tmp_path / "c")
    where = str(tmp_path / "c")
    with pytest.raises(ValueError, match=r"lacks the severities \[2, 3, 4\].*\[1, 5\]") as raised:
        found.check_cells(None, [1, 2, 3, 4, 5])
    assert where in str(raised.value)
    with pytest.raises(ValueError, match=r"lacks the corruption\(s\) \['zoom_blur'\]"):
        found.check_cells(["fog", "zoom_blur"], [1])
    with pytest.raises(ValueError, match="none of the requested benchmark corruptions"):
        found.check_cells(["spatter"], [1])
    with pytest.raises(ValueError, match="unknown corruption 'smog'"):
        found.check_cells(["smog"], [1])


def test_truncated_file_and_other_image_shape_are_caught_from_headers(tmp_path):
    write_set(tmp_path / "c")
    found = CorruptedDataset(tmp_path / "c")
    with pytest.raises(
        ValueError, match=r"fog\.npy' holds 32x32x3 images but the clean .* 28x28x3"
    ):
        found.check_cells(None, [1], image_shape=(28, 28, 3))
    path = tmp_path / "c" / "fog.npy"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match=r"fog\.npy' is truncated"):
        CorruptedDataset(tmp_path / "c").check_cells(None, [1])


def test_jpeg_folders_are_checked_per_severity(tmp_path):
    for severity in (1, 2):
        folder = tmp_path / "tc" / "fog" / str(severity) / "n1"
        folder.mkdir(parents=True)
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "0.JPEG")
    (tmp_path / "tc" / "frost" / "1" / "n1").mkdir(parents=True)
    found = CorruptedDataset(tmp_path / "tc", kind="tinyimagenet-c")
    assert found.check_cells(["fog"], [1, 2]) == [("fog", 1), ("fog", 2)]
    with pytest.raises(FileNotFoundError, match=r"'frost' at severities \[2\]"):
        found.check_cells(None, [1, 2])


def test_check_corruption_set_opens_folders_and_checks_labels(tmp_path):
    labels = write_set(tmp_path / "c")
    check_corruption_set(tmp_path / "c", clean_split(labels), severities=[1, 2])
    with pytest.raises(ValueError, match="labels per severity differ"):
        check_corruption_set(tmp_path / "c", clean_split((labels + 1) % 3))
    with pytest.raises(ValueError, match=r"lacks the severities \[4\]"):
        write_set(tmp_path / "d", severities=(1, 2, 3))
        check_corruption_set(tmp_path / "d", clean_split(labels), severities=[2, 4])
    check_corruption_set("none", clean_split(labels))  # nothing to check


def test_check_corruption_set_never_generates(tmp_path, monkeypatch):
    clean = load_dataset("synthetic", "test", n=8, num_classes=4)
    check_corruption_set("generated", clean, root=tmp_path / "set", corruptions=["fog"])
    assert not (tmp_path / "set").exists()
    small = load_dataset("synthetic", "test", n=8, num_classes=4, size=16)
    with pytest.raises(ValueError, match="16x16 but the corruptions need at least 32x32"):
        check_corruption_set("generated", small)
    with pytest.raises(ValueError, match="no benchmark corruption"):
        check_corruption_set("generated", clean, corruptions=["spatter"])


def test_check_corruption_set_refuses_a_generated_folder_of_other_settings(tmp_path):
    clean = load_dataset("synthetic", "test", n=8, num_classes=4)
    open_corruptions(
        "generated",
        dataset=clean,
        root=tmp_path / "set",
        corruptions=["fog"],
        severities=[1],
        workers=1,
        progress=False,
    )
    check_corruption_set("generated", clean, root=tmp_path / "set", severities=[1])
    with pytest.raises(ValueError, match=r"other settings \(differing: \['severities'\]\)"):
        check_corruption_set("generated", clean, root=tmp_path / "set", severities=[1, 2])
