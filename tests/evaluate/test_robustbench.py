"""RobustBench compatibility: its own common-corruption evaluation of a probmoll model from
load_model agrees with probmoll's, cell by cell, on a CIFAR-10-C folder in its layout.

RobustBench's CIFAR-10-C loader (``robustbench.data.load_corruptions_cifar``) reads
``<data_dir>/CIFAR-10-C/<corruption>.npy`` whole, takes severity ``s`` from rows
``[(s - 1) * 10000, s * 10000)`` and the labels from ``labels.npy``; it downloads the set
from Zenodo only when ``<data_dir>/CIFAR-10-C`` is missing. The files here have the full
50,000 rows, but only the first ``N`` rows of each severity hold images; the rest is a
hole of the sparse file (no disk, read back as zeros).
"""

import argparse
import importlib.util
import json
import sys
import types
import warnings

import numpy as np
import pytest

from probmoll import evaluate, load_model
from probmoll.data.corruptions import open_corruptions
from probmoll.evaluate import evaluate_model
from tests.evaluate.helpers import save_untrained_run

PER_SEVERITY = 10_000  # RobustBench's n_total_cifar
N = 48  # images evaluated per (corruption, severity) cell
CORRUPTIONS = ("gaussian_noise", "shot_noise")


@pytest.fixture(scope="module")
def robustbench():
    """``robustbench.data`` and ``robustbench.utils`` as installed from PyPI, imported
    without their warnings.

    Importing any part of robustbench 1.1.1 runs its ``eval`` module, which imports
    ``autoattack``, and its ``loaders`` module, which imports ``pkg_resources``. Neither
    is used by the CIFAR-10-C loader, and neither imports as such from PyPI: AutoAttack's
    PyPI distribution (pyautoattack, a dependency of robustbench) installs the package
    under the name ``pyautoattack``, so that name stands in for ``autoattack``; setuptools
    82 dropped ``pkg_resources`` (robustbench uses it for its ImageNet file list only;
    RobustBench/robustbench pull request 214), so an empty module stands in for it. Both
    stand-ins only exist during the import. timm (robustbench's model zoo) and torch.jit
    warn about deprecated names at import time.
    """
    if importlib.util.find_spec("robustbench") is None:
        pytest.skip("robustbench is not installed (pip install robustbench==1.1.1)")
    with pytest.MonkeyPatch.context() as patch, warnings.catch_warnings():
        if importlib.util.find_spec("autoattack") is None:
            for name in ("", ".state"):
                module = importlib.import_module(f"pyautoattack{name}")
                patch.setitem(sys.modules, f"autoattack{name}", module)
        if importlib.util.find_spec("pkg_resources") is None:
            patch.setitem(sys.modules, "pkg_resources", types.ModuleType("pkg_resources"))
        warnings.filterwarnings(
            "ignore", r"Importing from timm\.models\.\w+ is deprecated", DeprecationWarning
        )
        warnings.filterwarnings("ignore", r"`torch\.jit\.interface` is deprecated", FutureWarning)
        import robustbench.data
        import robustbench.utils
    return robustbench


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """RobustBench's ``data_dir``: ``CIFAR-10-C/`` with two corruptions, each severity's
    first N images a different noisy copy of random images."""
    root = tmp_path_factory.mktemp("data")
    folder = root / "CIFAR-10-C"
    folder.mkdir()
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (N, 32, 32, 3))
    labels = np.zeros(5 * PER_SEVERITY, np.int64)
    labels.reshape(5, PER_SEVERITY)[:, :N] = rng.integers(0, 4, N)
    np.save(folder / "labels.npy", labels)
    for corruption in CORRUPTIONS:
        images = np.lib.format.open_memmap(
            folder / f"{corruption}.npy", "w+", np.uint8, (5 * PER_SEVERITY, 32, 32, 3)
        )
        for severity in range(1, 6):
            noise = rng.normal(0, 20 * severity, base.shape)
            first = (severity - 1) * PER_SEVERITY
            images[first : first + N] = np.clip(base + noise, 0, 255)
        images.flush()
        del images
    return root


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    save_untrained_run(folder, n=N, seed=0, confident=True)
    return folder


@pytest.fixture(scope="module")
def robustbench_accuracies(robustbench, data_dir, run_dir):
    """RobustBench's accuracy per (corruption, severity), as its corruptions_evaluation
    computes it (load_cifar10c of one corruption, then clean_accuracy)."""

    def no_download(*args, **kwargs):
        raise AssertionError(f"RobustBench tried to download {args}")

    model = load_model(run_dir)
    accuracies = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(robustbench.data, "zenodo_download", no_download)
        for corruption in CORRUPTIONS:
            for severity in range(1, 6):
                x, y = robustbench.data.load_cifar10c(
                    N, severity, str(data_dir), shuffle=False, corruptions=[corruption]
                )
                assert x.shape == (N, 3, 32, 32) and float(x.max()) <= 1
                accuracy = robustbench.utils.clean_accuracy(model, x, y, batch_size=20)
                accuracies[corruption, severity] = accuracy
    # The comparison has teeth: the cells differ, so a cell read from the wrong rows,
    # severity or corruption would not match.
    assert len(set(accuracies.values())) > 3
    return accuracies


def cell_errors(corrupted):
    return {
        (name, int(severity)): cells[severity]["error"]
        for name, cells in corrupted["by_corruption"].items()
        for severity in cells
        if severity != "mean"
    }


def test_probmoll_evaluate_model_agrees_with_robustbench(robustbench_accuracies, data_dir, run_dir):
    corrupted = open_corruptions("cifar10-c", root=data_dir)
    results = evaluate_model(
        load_model(run_dir), None, corrupted, max_examples=N, batch_size=16, progress=False
    )
    errors = cell_errors(results["corrupted"])
    assert errors.keys() == robustbench_accuracies.keys()
    for cell, accuracy in robustbench_accuracies.items():
        assert errors[cell] == pytest.approx(1 - accuracy, abs=1e-12), cell


@pytest.mark.parametrize("where", ["data_dir", "CIFAR-10-C"])
def test_probmoll_evaluate_reads_robustbench_data_dir(
    robustbench_accuracies, data_dir, run_dir, tmp_path, where, capsys
):
    root = data_dir if where == "data_dir" else data_dir / "CIFAR-10-C"
    parser = argparse.ArgumentParser()
    evaluate.add_arguments(parser)
    args = parser.parse_args(
        [
            "--checkpoint", str(run_dir), "--corruptions", "cifar10-c",
            "--corruptions-root", str(root), "--subset", str(N), "--batch-size", "16",
            "--device", "cpu", "--out", str(tmp_path / "out"), "--no-plots", "--no-progress",
        ]
    )  # fmt: skip
    assert evaluate.run(args) == 0, capsys.readouterr().err
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    errors = cell_errors(metrics["corrupted"])
    assert errors.keys() == robustbench_accuracies.keys()
    for cell, accuracy in robustbench_accuracies.items():
        assert errors[cell] == pytest.approx(1 - accuracy, abs=1e-12), cell
