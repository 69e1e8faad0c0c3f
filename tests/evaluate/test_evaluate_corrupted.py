"""evaluate_model on a corruption benchmark: explicit severities, summaries, metrics.json shape."""

import json

import numpy as np
import pytest
import torch

from probmoll.data.corruptions import (
    BENCHMARK_CORRUPTIONS,
    CORRUPTION_CATEGORIES,
    HELDOUT_CORRUPTIONS,
)
from probmoll.evaluate import evaluate_model, markdown_report, write_report
from probmoll.metrics import ClassificationMetrics
from tests.evaluate.helpers import MEAN, STD, Split, make_model, make_split

NAMES = list(BENCHMARK_CORRUPTIONS) + list(HELDOUT_CORRUPTIONS)


class PerturbedSets:
    """Corrupted sets following the CorruptedDataset contract (``.corruptions``,
    ``.load(corruption, severity)``): each cell is the base split plus uniform pixel
    noise whose amplitude grows with the severity, drawn from its own seed."""

    def __init__(self, split, corruptions=NAMES):
        self.split = split
        self.corruptions = list(corruptions)
        self.loaded = []

    def load(self, corruption, severity):
        self.loaded.append((corruption, severity))
        rng = np.random.default_rng([NAMES.index(corruption), severity])
        amplitude = 20 * severity
        noise = rng.integers(-amplitude, amplitude + 1, size=self.split.images.shape)
        images = np.clip(self.split.images.astype(np.int64) + noise, 0, 255).astype(np.uint8)
        return images, self.split.labels.copy()


@pytest.fixture(scope="module")
def evaluated():
    model, split = make_model(), make_split(n=24)
    sets = PerturbedSets(split)
    results = evaluate_model(
        model, split, sets, mean=MEAN, std=STD, batch_size=10, include_heldout=True, progress=False
    )
    loaded_by_evaluation = list(sets.loaded)
    return model, split, sets, results, loaded_by_evaluation


def cell_metrics(model, sets, corruption, severity):
    images, labels = sets.load(corruption, severity)
    return evaluate_model(model, Split(images, labels), None, mean=MEAN, std=STD, progress=False)


def test_every_cell_is_the_metric_of_its_own_severity(evaluated):
    model, _, sets, results, _ = evaluated
    by_corruption = results["corrupted"]["by_corruption"]
    for corruption, severity in [(BENCHMARK_CORRUPTIONS[0], 1), (BENCHMARK_CORRUPTIONS[-1], 5)]:
        expected = cell_metrics(model, sets, corruption, severity)["clean"]
        assert by_corruption[corruption][str(severity)] == pytest.approx(expected, rel=1e-6)
    # Severities differ from each other: they were loaded one by one, not inferred.
    errors = [by_corruption[BENCHMARK_CORRUPTIONS[0]][str(s)]["nll"] for s in range(1, 6)]
    assert len(set(errors)) == 5


def test_each_cell_loaded_once_and_heldout_only_on_request(evaluated):
    model, split, _, _, loaded = evaluated
    assert sorted(loaded) == sorted((name, s) for name in NAMES for s in range(1, 6))
    fresh = PerturbedSets(split)
    evaluate_model(model, None, fresh, mean=MEAN, std=STD, severities=(2,), progress=False)
    assert fresh.loaded == [(name, 2) for name in BENCHMARK_CORRUPTIONS]


def test_mean_is_over_the_benchmark_cells_only(evaluated):
    _, _, _, results, _ = evaluated
    corrupted = results["corrupted"]
    cells = [
        corrupted["by_corruption"][name][str(s)]
        for name in BENCHMARK_CORRUPTIONS
        for s in range(1, 6)
    ]
    for metric in ("error", "nll", "ece"):
        expected = np.mean([cell[metric] for cell in cells])
        assert corrupted["mean"][metric] == pytest.approx(expected, rel=1e-12)
    assert corrupted["complete"] is True
    assert corrupted["mean"]["cells"] == 75
    assert list(corrupted["by_corruption"]) == list(BENCHMARK_CORRUPTIONS)
    assert list(corrupted["heldout"]["by_corruption"]) == list(HELDOUT_CORRUPTIONS)
    assert set(corrupted["by_category"]) == set(CORRUPTION_CATEGORIES)


def test_pooled_metrics_are_those_of_all_benchmark_images_together(evaluated):
    model, _, sets, results, _ = evaluated
    pooled = ClassificationMetrics()
    for name in BENCHMARK_CORRUPTIONS:
        for severity in range(1, 6):
            images, labels = sets.load(name, severity)
            x = (images.astype(np.float64) / 255 - np.array(MEAN)) / np.array(STD)
            with torch.no_grad():
                model.eval()
                logits = model(torch.from_numpy(x.transpose(0, 3, 1, 2)).float())
            pooled.update(logits, torch.from_numpy(labels))
    assert results["corrupted"]["pooled"] == pytest.approx(pooled.compute(), rel=1e-5, abs=1e-7)
    assert sum(results["reliability"]["corrupted"]["count"]) == 75 * 24


def test_partial_benchmark_is_flagged(evaluated):
    model, split, _, _, _ = evaluated
    names = list(BENCHMARK_CORRUPTIONS[:2])
    results = evaluate_model(
        model,
        None,
        PerturbedSets(split),
        mean=MEAN,
        std=STD,
        corruptions=names,
        severities=(1, 3),
        progress=False,
    )
    corrupted = results["corrupted"]
    assert corrupted["complete"] is False
    assert list(corrupted["by_corruption"]) == names
    assert list(corrupted["by_severity"]) == ["1", "3"]
    assert results["clean"] is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"corruptions": ["made_up"]}, r"\['made_up'\] are not in the set"),
        ({"corruptions": list(HELDOUT_CORRUPTIONS)}, "no benchmark corruption"),
        ({"severities": (1, 1)}, "must not repeat a level"),
        ({"severities": (0,)}, r"integers in 1\.\.5 \(a non-empty list\), got \[0\]"),
    ],
)
def test_bad_selections_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        evaluate_model(
            make_model(), None, PerturbedSets(make_split(n=4)), mean=MEAN, std=STD, **kwargs
        )


def test_metrics_json_has_the_documented_shape(evaluated, tmp_path):
    _, _, _, results, _ = evaluated
    written = write_report(results, tmp_path, title="perturbed")
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    for metric in ("error", "nll", "ece"):
        assert isinstance(metrics["clean"][metric], float)
        assert isinstance(metrics["corrupted"]["mean"][metric], float)
    for name in BENCHMARK_CORRUPTIONS:
        assert set(metrics["corrupted"]["by_corruption"][name]) == {"1", "2", "3", "4", "5", "mean"}
        assert set(metrics["corrupted"]["by_corruption"][name]["3"]) >= {"error", "nll", "ece"}
    assert set(metrics["corrupted"]["by_severity"]) == {"1", "2", "3", "4", "5"}
    assert set(metrics["corrupted"]["by_category"]) == set(CORRUPTION_CATEGORIES)
    assert set(metrics["corrupted"]["heldout"]["by_corruption"]) == set(HELDOUT_CORRUPTIONS)
    for kind in ("severity_plot", "reliability_plot"):
        assert written[kind].read_bytes()[:4] == b"\x89PNG"
    report = (tmp_path / "report.md").read_text()
    assert report == markdown_report(results, "perturbed")
    assert "Held-out corruptions" in report
    mean_error = f"{100 * results['corrupted']['mean']['error']:.1f}"
    assert mean_error in report.split("Table 2 layout")[1].splitlines()[5]


def test_severity_curves_start_at_the_clean_split(evaluated, tmp_path):
    from probmoll.plots import plot_severity_curves, severity_curve

    _, _, _, results, _ = evaluated
    levels, values = severity_curve(results, "ece")
    assert levels == [0, 1, 2, 3, 4, 5]
    assert values[0] == results["clean"]["ece"]
    assert values[1:] == [results["corrupted"]["by_severity"][str(s)]["ece"] for s in range(1, 6)]
    no_clean = {**results, "clean": None}
    assert severity_curve(no_clean, "ece")[0] == [1, 2, 3, 4, 5]
    figure = plot_severity_curves({"a": results, "b": no_clean}, tmp_path / "curves.png")
    error_axis = figure.axes[0]
    assert [len(line.get_xdata()) for line in error_axis.lines] == [6, 5]
    assert error_axis.lines[0].get_ydata()[0] == pytest.approx(100 * results["clean"]["error"])
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
