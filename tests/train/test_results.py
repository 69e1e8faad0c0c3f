"""probmoll.train.results: the look-ups and statistics shared by sweeps and reports."""

import math
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from probmoll.train.results import lookup, mean_std

RESULTS = {"clean": {"error": 0.25, "count": 10, "ok": True}, "corrupted": None}


@pytest.mark.parametrize(
    "key,expected",
    [
        ("clean.error", 0.25),
        ("clean.count", 10.0),
        ("clean.ok", None),  # a bool is not a number
        ("clean.missing", None),
        ("corrupted.mean.error", None),
        ("clean", None),  # a section is not a number
    ],
)
def test_lookup(key, expected):
    assert lookup(RESULTS, key) == expected


@given(st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=20))
def test_mean_std_matches_the_statistics_module(values):
    mean, std = mean_std(values)
    assert mean == pytest.approx(statistics.fmean(values), abs=1e-6)
    assert std == pytest.approx(statistics.stdev(values), rel=1e-9, abs=1e-6)


def test_mean_std_of_one_value_has_no_spread_and_of_none_is_an_error():
    assert mean_std([0.5]) == (0.5, None)
    with pytest.raises(ValueError, match="at least one value"):
        mean_std([])
    assert math.isclose(mean_std([1.0, 2.0, 3.0])[1], 1.0)
