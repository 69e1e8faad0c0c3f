"""Summaries over a corruption benchmark, on a hand-built table."""

import json

import pytest

from probmoll.metrics import aggregate_corruptions, mce, mean_metrics, relative_mce

BENCHMARK = ["noise_a", "noise_b", "blur_a"]
CATEGORIES = {"noise": ["noise_a", "noise_b"], "blur": ["blur_a"]}

# error of corruption c at severity s: base[c] + s / 100; NLL = 10 * error; ECE constant per c.
BASE = {"noise_a": 0.10, "noise_b": 0.30, "blur_a": 0.20, "heldout_x": 0.90}
ECE = {"noise_a": 0.01, "noise_b": 0.03, "blur_a": 0.05, "heldout_x": 0.5}


def cell(corruption, severity):
    error = BASE[corruption] + severity / 100
    return {"error": error, "nll": 10 * error, "ece": ECE[corruption], "count": 100}


def table(corruptions=("noise_a", "noise_b", "blur_a", "heldout_x"), severities=(1, 2, 3, 4, 5)):
    return {c: {s: cell(c, s) for s in severities} for c in corruptions}


def test_summaries_of_a_hand_built_table():
    summary = aggregate_corruptions(table(), benchmark=BENCHMARK, categories=CATEGORIES)
    # Severity mean offset: (1 + 2 + 3 + 4 + 5) / 5 / 100 = 0.03.
    by_corruption = summary["by_corruption"]
    assert list(by_corruption) == BENCHMARK  # held-out corruption not among them
    assert by_corruption["noise_a"]["mean"]["error"] == pytest.approx(0.13)
    assert by_corruption["noise_b"]["3"]["error"] == pytest.approx(0.33)
    assert by_corruption["blur_a"]["mean"]["nll"] == pytest.approx(2.3)
    # Overall mean over the 3 benchmark corruptions only: (0.1 + 0.3 + 0.2) / 3 + 0.03.
    assert summary["mean"]["error"] == pytest.approx(0.23)
    assert summary["mean"]["ece"] == pytest.approx(0.03)
    assert summary["mean"]["count"] == 15 * 100
    assert summary["mean"]["cells"] == 15
    assert summary["by_category"]["noise"]["error"] == pytest.approx(0.23)
    assert summary["by_category"]["blur"]["error"] == pytest.approx(0.23)
    assert summary["by_category"]["noise"]["ece"] == pytest.approx(0.02)
    assert summary["by_severity"]["1"]["error"] == pytest.approx(0.21)
    assert summary["by_severity"]["5"]["error"] == pytest.approx(0.25)
    assert summary["by_severity"]["5"]["cells"] == 3
    assert summary["complete"] is True
    assert summary["severities"] == [1, 2, 3, 4, 5]
    assert summary["categories"] == CATEGORIES
    # The held-out corruption is summarised on its own.
    heldout = summary["heldout"]
    assert list(heldout["by_corruption"]) == ["heldout_x"]
    assert heldout["mean"]["error"] == pytest.approx(0.93)
    assert heldout["by_severity"]["2"]["error"] == pytest.approx(0.92)


def test_mean_is_over_cells_so_category_means_weigh_corruptions_equally():
    # Two noise corruptions and one blur: the overall mean is not the mean of categories.
    summary = aggregate_corruptions(table(), benchmark=BENCHMARK, categories=CATEGORIES)
    by_category = summary["by_category"]
    assert summary["mean"]["ece"] == pytest.approx(0.03)
    assert (by_category["noise"]["ece"] + by_category["blur"]["ece"]) / 2 == pytest.approx(0.035)


def test_severity_keys_read_back_from_json_are_accepted():
    from_json = json.loads(json.dumps(table()))
    assert aggregate_corruptions(from_json, benchmark=BENCHMARK) == aggregate_corruptions(
        table(), benchmark=BENCHMARK
    )


def test_partial_results_are_flagged_incomplete():
    partial = table(corruptions=("noise_a", "blur_a"), severities=(1, 3))
    summary = aggregate_corruptions(partial, benchmark=BENCHMARK, categories=CATEGORIES)
    assert summary["complete"] is False
    assert summary["corruptions"] == ["noise_a", "blur_a"]
    assert summary["severities"] == [1, 3]
    assert summary["heldout"] == {}
    assert summary["mean"]["error"] == pytest.approx((0.1 + 0.2) / 2 + 0.02)
    assert summary["by_category"]["noise"]["error"] == pytest.approx(0.12)
    assert summary["categories"] == {"noise": ["noise_a"], "blur": ["blur_a"]}
    full_severities = table(corruptions=BENCHMARK)
    assert aggregate_corruptions(full_severities, benchmark=BENCHMARK)["complete"] is True
    assert (
        aggregate_corruptions(full_severities, benchmark=BENCHMARK, severities=(6,))["complete"]
        is False
    )


def test_metrics_missing_from_a_cell_are_left_out():
    cells = [{"error": 0.1, "nll": 1.0}, {"error": 0.3}]
    assert mean_metrics(cells) == pytest.approx({"error": 0.2, "cells": 2})


@pytest.mark.parametrize(
    ("results", "kwargs", "match"),
    [
        (table(corruptions=("heldout_x",)), {}, "none of the results.*heldout_x.*noise_a"),
        (table(), {"categories": {"noise": ["noise_a", "heldout_x"]}}, r"\['heldout_x'\]"),
        ({"noise_a": {"high": cell("noise_a", 1)}}, {}, "'high'"),
        ({"noise_a": {0: cell("noise_a", 1)}}, {}, ">= 1"),
        ({"noise_a": {}}, {}, "'noise_a' has no per-severity results"),
    ],
)
def test_bad_tables_are_refused(results, kwargs, match):
    with pytest.raises(ValueError, match=match):
        aggregate_corruptions(results, benchmark=BENCHMARK, **kwargs)


def test_mce_hand_computed():
    errors = {"noise_a": {1: 0.1, 2: 0.3}, "blur_a": [0.2, 0.2]}
    reference = {"noise_a": {1: 0.5, 2: 0.5}, "blur_a": {"1": 0.1, "2": 0.3}, "unused": [1, 1]}
    result = mce(errors, reference)
    assert result["by_corruption"] == pytest.approx({"noise_a": 0.4, "blur_a": 1.0})
    assert result["mce"] == pytest.approx(0.7)


def test_mce_refuses_mismatched_references():
    with pytest.raises(ValueError, match=r"no reference errors for \['blur_a'\]"):
        mce({"blur_a": [0.1]}, {"noise_a": [0.2]})
    with pytest.raises(ValueError, match=r"severities \[1, 2\].*\[1\]"):
        mce({"blur_a": [0.1, 0.2]}, {"blur_a": [0.2]})
    with pytest.raises(ValueError, match="sum to 0"):
        mce({"blur_a": [0.1]}, {"blur_a": [0.0]})
    with pytest.raises(ValueError, match="empty"):
        mce({}, {"blur_a": [0.2]})


def test_mce_with_one_reference_error_per_corruption_is_the_ratio_of_means():
    errors = {"noise_a": {1: 0.1, 2: 0.3, 3: 0.5, 4: 0.3, 5: 0.3}, "blur_a": [0.2] * 5}
    # Published reference errors are often one number: the mean over severities 1-5.
    result = mce(errors, {"noise_a": 0.6, "blur_a": 0.4})
    assert result["by_corruption"] == pytest.approx({"noise_a": 0.3 / 0.6, "blur_a": 0.5})
    assert result["mce"] == pytest.approx((0.5 + 0.5) / 2)
    # The same as per-severity references with those means (sum over sum).
    blur = {1: 0.2, 2: 0.4, 3: 0.6, 4: 0.4, 5: 0.4}
    per_severity = mce(errors, {"noise_a": [0.6] * 5, "blur_a": blur})
    assert per_severity["by_corruption"] == pytest.approx(result["by_corruption"])
    with pytest.raises(TypeError, match="must be an error or map severity"):
        mce(errors, {"noise_a": "0.6", "blur_a": 0.4})
    with pytest.raises(ValueError, match="sum to 0.0; need > 0"):
        mce(errors, {"noise_a": 0.0, "blur_a": 0.4})


def test_one_reference_error_needs_errors_at_all_five_severities():
    # One number is a mean over severities 1-5: a mean over other severities is no match.
    with pytest.raises(
        ValueError,
        match=r"'noise_a': reference_errors gives one number.*"
        r"errors cover severities \[1, 2\]: pass errors for all of severities",
    ):
        mce({"noise_a": {1: 0.1, 2: 0.3}}, {"noise_a": 0.6})
    with pytest.raises(ValueError, match=r"errors gives one number.*reference_errors cover"):
        mce({"noise_a": 0.3}, {"noise_a": [0.6, 0.6, 0.6]})
    with pytest.raises(ValueError, match=r"errors cover severities \[2, 3, 4, 5\]"):
        relative_mce({"noise_a": {2: 0.1, 3: 0.2, 4: 0.3, 5: 0.4}}, 0.0, {"noise_a": 0.6}, 0.2)
    full = {"noise_a": {s: 0.3 for s in range(1, 6)}}
    assert mce(full, {"noise_a": 0.6})["mce"] == pytest.approx(0.5)
    assert mce({"noise_a": 0.3}, {"noise_a": [0.6] * 5})["mce"] == pytest.approx(0.5)


def test_relative_mce_hand_computed():
    # relCE_c = sum_s (E_sc - E_clean) / sum_s (E^ref_sc - E^ref_clean)
    errors = {"noise_a": {1: 0.2, 2: 0.4}, "blur_a": {s: 0.15 for s in range(1, 6)}}
    reference = {"noise_a": {1: 0.5, 2: 0.7}, "blur_a": 0.35}
    result = relative_mce(errors, 0.1, reference, 0.3)
    noise = ((0.2 - 0.1) + (0.4 - 0.1)) / ((0.5 - 0.3) + (0.7 - 0.3))
    blur = (5 * (0.15 - 0.1)) / (5 * (0.35 - 0.3))
    assert result["by_corruption"] == pytest.approx({"noise_a": noise, "blur_a": blur})
    assert result["relative_mce"] == pytest.approx((noise + blur) / 2)
    with pytest.raises(ValueError, match="do not exceed its clean error 0.6"):
        relative_mce(errors, 0.1, reference, 0.6)
    with pytest.raises(ValueError, match=r"no reference errors for \['blur_a'\]"):
        relative_mce(errors, 0.1, {"noise_a": 0.5}, 0.3)
