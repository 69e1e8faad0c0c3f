"""The docs examples run (fast mode) and show what they claim."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_dirichlet_tempering_example(tmp_path):
    output = tmp_path / "results.json"
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    completed = subprocess.run(
        [
            sys.executable,
            str(ROOT / "docs/examples/dirichlet_tempering.py"),
            "--fast",
            "--json",
            str(output),
        ],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "Part 2" in completed.stdout
    results = json.loads(output.read_text())

    for row in results["dirichlet"]:
        if row["form"] == "temper":  # Eq. 7: the mode stays at the one-hot vertex
            assert row["mode_true_class"] == pytest.approx(1.0)
        else:  # Eq. 8: the mode is the smoothed label
            assert row["mode_true_class"] == pytest.approx(1 - 2 * row["gamma"] / 3)
            assert row["mode_other_class"] == pytest.approx(row["gamma"] / 3)
    tempered_peaks = [
        row["log_peak_over_centre"] for row in results["dirichlet"] if row["form"] == "temper"
    ]
    assert tempered_peaks == sorted(tempered_peaks, reverse=True)

    rows = sorted(results["tempering"], key=lambda row: row["T"])
    confidences = [row["confidence"] for row in rows]
    # A colder likelihood (smaller T) weighs more against the prior: more confident predictions.
    assert confidences == sorted(confidences, reverse=True)
    assert confidences[0] - confidences[-1] > 0.05
    assert all(row["accuracy"] > 0.7 for row in rows)
    assert results["per_copy_vs_geometric"] < 1e-5
