"""evaluate_model: eval mode, no mollification, hard labels, exact over the split; reports."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from probmoll.evaluate import (
    compare_runs,
    corruption_table,
    evaluate_model,
    load_metrics,
    markdown_report,
    summary_table,
    write_report,
)
from probmoll.metrics import functional as F
from tests.evaluate.helpers import (
    MEAN,
    NUM_CLASSES,
    STD,
    Split,
    make_model,
    make_split,
    reference_logits,
)


def test_clean_metrics_equal_the_functional_metrics_of_the_plain_model():
    model, split = make_model(), make_split()
    results = evaluate_model(
        model, split, None, mean=MEAN, std=STD, batch_size=10, device="cpu", progress=False
    )
    logits, labels = reference_logits(model, split), torch.from_numpy(split.labels)
    clean = results["clean"]
    assert clean["count"] == len(split.labels)
    for name, metric in [("error", F.error), ("nll", F.nll), ("ece", F.ece), ("brier", F.brier)]:
        assert clean[name] == pytest.approx(metric(logits, labels).item(), rel=1e-5, abs=1e-7)
    assert results["corrupted"] is None
    assert sum(results["reliability"]["clean"]["count"]) == len(split.labels)


def test_batchnorm_model_gives_the_same_results_for_any_batch_size():
    model, split = make_model(), make_split()
    kwargs = dict(mean=MEAN, std=STD, device="cpu", progress=False)
    one = evaluate_model(model, split, None, batch_size=1, **kwargs)["clean"]
    many = evaluate_model(model, split, None, batch_size=64, **kwargs)["clean"]
    assert one == pytest.approx(many, rel=1e-5, abs=1e-7)
    # The check has teeth: in training mode BatchNorm makes logits batch-dependent.
    x = torch.randn(64, 3, 8, 8)
    model.train()
    with torch.no_grad():
        assert not torch.allclose(model(x)[:2], model(x[:2]), atol=1e-3)


def test_train_mode_of_every_submodule_is_restored_and_running_stats_kept():
    model, split = make_model(), make_split(n=20)
    model.train()
    model.head.eval()  # a mixed state must come back exactly
    modes = {name: module.training for name, module in model.named_modules()}
    batchnorm = model.features[1]
    running = (batchnorm.running_mean.clone(), batchnorm.running_var.clone())
    evaluate_model(model, split, None, mean=MEAN, std=STD, batch_size=7, progress=False)
    assert {name: module.training for name, module in model.named_modules()} == modes
    torch.testing.assert_close(batchnorm.running_mean, running[0], rtol=0, atol=0)
    torch.testing.assert_close(batchnorm.running_var, running[1], rtol=0, atol=0)
    assert all(parameter.grad is None for parameter in model.parameters())


def test_bfloat16_autocast_stays_close_to_full_precision():
    model, split = make_model(), make_split()
    kwargs = dict(mean=MEAN, std=STD, progress=False)
    full = evaluate_model(model, split, None, **kwargs)
    mixed = evaluate_model(model, split, None, autocast_dtype=torch.bfloat16, **kwargs)
    assert mixed["settings"]["autocast_dtype"] == "torch.bfloat16"
    assert mixed["clean"]["nll"] == pytest.approx(full["clean"]["nll"], rel=2e-2)
    assert mixed["clean"]["nll"] != full["clean"]["nll"]  # autocast did run in bfloat16


class ViewLinear(nn.Module):
    """A linear classifier that flattens with .view, which needs contiguous inputs."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(8 * 8 * 3, NUM_CLASSES)

    def forward(self, x):
        return self.linear(x.view(x.shape[0], -1))


def test_flattening_model_gets_contiguous_inputs():
    results = evaluate_model(ViewLinear(), make_split(), None, mean=MEAN, std=STD, progress=False)
    assert results["clean"]["count"] == 96


def test_max_examples_evaluates_the_first_images():
    model, split = make_model(), make_split()
    kwargs = dict(mean=MEAN, std=STD, progress=False)
    head = Split(split.images[:30], split.labels[:30])
    assert evaluate_model(model, split, None, max_examples=30, **kwargs)["clean"] == pytest.approx(
        evaluate_model(model, head, None, **kwargs)["clean"]
    )


def test_memory_mapped_read_only_images_are_accepted(tmp_path):
    model, split = make_model(), make_split(n=16)
    np.save(tmp_path / "images.npy", split.images)
    mapped = Split(np.load(tmp_path / "images.npy", mmap_mode="r"), split.labels)
    kwargs = dict(mean=MEAN, std=STD, progress=False)
    assert evaluate_model(model, mapped, None, **kwargs)["clean"] == pytest.approx(
        evaluate_model(model, split, None, **kwargs)["clean"]
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"mean": (0.5,), "std": (0.5,)}, ValueError, r"C = 1 channels.*\(96, 8, 8, 3\)"),
        ({"mean": MEAN, "std": (0.5, 0.5)}, ValueError, "one entry per channel"),
        ({"mean": MEAN, "std": (0.5, 0.0, 0.5)}, ValueError, "positive"),
        ({"mean": MEAN, "std": STD, "batch_size": 0}, ValueError, "batch_size.*0"),
        ({"mean": MEAN, "std": STD, "max_examples": -2}, ValueError, "max_examples.*-2"),
    ],
)
def test_bad_arguments_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        evaluate_model(make_model(), make_split(), None, progress=False, **kwargs)


def test_float_images_are_refused():
    split = make_split()
    split.images = split.images.astype(np.float32)
    with pytest.raises(TypeError, match="uint8.*float32"):
        evaluate_model(make_model(), split, None, mean=MEAN, std=STD, progress=False)


def test_nothing_to_evaluate_is_refused():
    with pytest.raises(ValueError, match="nothing to evaluate"):
        evaluate_model(make_model(), None, None, mean=MEAN, std=STD)


# ------------------------------------------------------------------------ reports
def clean_results(error_offset: float = 0.0) -> dict:
    """Results of a real evaluation on the clean split (no corrupted set)."""
    model, split = make_model(), make_split()
    results = evaluate_model(model, split, None, mean=MEAN, std=STD, progress=False)
    results["clean"]["error"] += error_offset
    return results


def test_write_report_clean_only(tmp_path):
    results = clean_results()
    written = write_report(results, tmp_path / "out", title="tiny")
    metrics = load_metrics(tmp_path / "out")
    assert metrics["clean"] == pytest.approx(results["clean"])
    assert metrics["corrupted"] is None
    report = (tmp_path / "out" / "report.md").read_text()
    assert f"{100 * results['clean']['error']:.1f}" in report
    assert written["reliability_plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "severity_plot" not in written  # nothing to plot without corrupted results


def test_summary_table_formats_clean_and_corrupted_columns():
    results = {
        "clean": {"error": 0.034, "nll": 0.12, "ece": 0.03},
        "corrupted": {"mean": {"error": 0.121, "nll": 0.49, "ece": 0.09}},
    }
    table = summary_table({"FCR+TrivAug": results})
    assert table.splitlines()[2] == "| FCR+TrivAug | 3.4 | 12.1 | 0.120 | 0.490 | 3.0 | 9.0 |"


def test_report_shows_error_and_ece_in_percent_with_the_unit_in_every_header():
    cells = {"error": 0.25, "nll": 0.8, "ece": 0.125}
    results = {
        "clean": {"error": 0.034, "nll": 0.12, "ece": 0.0625},
        "corrupted": {
            "mean": cells,
            "categories": {"noise": ["gaussian_noise"]},
            "corruptions": ["gaussian_noise"],
            "by_corruption": {"gaussian_noise": {"1": cells, "mean": cells}},
            "by_severity": {"1": cells},
            "heldout": {"by_corruption": {"speckle_noise": {"mean": cells}}, "mean": cells},
            "complete": False,
        },
    }
    header = [cell.strip() for cell in summary_table({"r": results}).splitlines()[0].split("|")]
    assert header[1:-1] == [
        "run", "error clean (%)", "error corr (%)", "NLL clean", "NLL corr",
        "ECE clean (%)", "ECE corr (%)",
    ]  # fmt: skip
    report = markdown_report(results, title="r")
    assert "| r | 3.4 | 25.0 | 0.120 | 0.800 | 6.2 | 12.5 |" in report
    assert "## ECE (%) per corruption (Table 2 layout)" in report
    ece_table = report.split("## ECE (%) per corruption")[1].split("##")[0]
    assert "| r | 6.2 | 12.5 | 12.5 |" in ece_table
    assert "| ECE (%) | 6.2 | 12.5 |" in report  # against severity
    assert "| held-out corruption | error (%) | NLL | ECE (%) |" in report
    assert "| speckle_noise | 25.0 | 0.800 | 12.5 |" in report
    assert "0.125" not in report and "0.062" not in report  # no ECE as a fraction
    assert compare_runs({"r": results}).count("ECE corr (%)") == 1
    from probmoll.evaluate.plots import plot_severity_curves

    ece_axis = plot_severity_curves({"r": results}).axes[2]
    assert ece_axis.get_ylabel() == "ECE (%)"
    assert list(ece_axis.lines[0].get_ydata()) == pytest.approx([6.25, 12.5])


def test_reliability_diagram_has_a_legend_naming_accuracy_both_gaps_and_the_diagonal():
    from probmoll.evaluate.plots import plot_reliability_diagrams

    diagram = {  # bin 1 over-confident, bin 2 under-confident, bin 3 empty
        "bin_edges": [0.0, 0.25, 0.5, 0.75, 1.0],
        "count": [0, 10, 20, 0],
        "mean_confidence": [None, 0.4, 0.6, None],
        "accuracy": [None, 0.3, 0.7, None],
    }
    figure = plot_reliability_diagrams({"clean": diagram, "corrupted": diagram})
    legend = figure.axes[0].get_legend()
    assert legend is not None
    assert [text.get_text() for text in legend.get_texts()] == [
        "accuracy", "gap (over-confident)", "gap (under-confident)", "perfect calibration",
    ]  # fmt: skip
    bars = {c.get_label(): c for c in figure.axes[0].containers}
    heights = {label: [p.get_height() for p in bars[label]] for label in bars}
    assert heights["gap (over-confident)"] == pytest.approx([0, 0.1, 0, 0])
    assert heights["gap (under-confident)"] == pytest.approx([0, 0, 0.1, 0])
    under_bottom = [p.get_y() for p in bars["gap (under-confident)"]]
    assert under_bottom[2] == pytest.approx(0.6)  # from the confidence up to the accuracy
    lines = {line.get_label(): line for line in figure.axes[0].lines}
    diagonal = lines["perfect calibration"]
    assert list(diagonal.get_xdata()) == [0, 1] == list(diagonal.get_ydata())


def test_corruption_table_groups_by_category_with_clean_first_and_mean_last():
    results = {
        "clean": {"error": 0.05},
        "corrupted": {
            "mean": {"error": 0.2},
            "categories": {"noise": ["shot_noise", "gaussian_noise"], "blur": ["zoom_blur"]},
            "corruptions": ["shot_noise", "gaussian_noise", "zoom_blur"],
            "by_corruption": {
                "shot_noise": {"mean": {"error": 0.25}},
                "gaussian_noise": {"mean": {"error": 0.3}},
                "zoom_blur": {"mean": {"error": 0.05}},
            },
        },
    }
    lines = corruption_table({"run": results}).splitlines()
    assert lines[0] == "|  |  | noise |  | blur |  |"
    assert lines[2] == "| run | clean | shot | gauss | zoom | mean |"
    assert lines[3] == "| run | 5.0 | 25.0 | 30.0 | 5.0 | 20.0 |"


def test_corruption_table_follows_the_column_order_of_the_papers_table_2():
    from probmoll.data.corruptions import (
        BENCHMARK_CORRUPTIONS,
        CORRUPTION_CATEGORIES,
        TABLE2_ORDER,
    )
    from probmoll.evaluate import SHORT_NAMES
    from probmoll.metrics import aggregate_corruptions

    # Each corruption's error is its position in Hendrycks' order (not Table 2's), so a
    # column under the wrong header shows up as a wrong number.
    cells = {name: {1: {"error": (k + 1) / 100}} for k, name in enumerate(BENCHMARK_CORRUPTIONS)}
    summary = aggregate_corruptions(
        cells, benchmark=BENCHMARK_CORRUPTIONS, categories=CORRUPTION_CATEGORIES, severities=(1,)
    )
    lines = corruption_table({"run": {"clean": {"error": 0.5}, "corrupted": summary}}).splitlines()
    header = [cell.strip() for cell in lines[2].strip("|").split("|")]
    assert header[2:-1] == [
        "shot", "impulse", "gauss", "motion", "zoom", "defocus", "glass",
        "fog", "frost", "snow", "bright", "jpg", "pixel", "elastic", "contrast",
    ]  # fmt: skip
    assert header[2:-1] == [SHORT_NAMES[name] for name in TABLE2_ORDER]
    values = [cell.strip() for cell in lines[3].strip("|").split("|")]
    expected = [f"{BENCHMARK_CORRUPTIONS.index(name) + 1:.1f}" for name in TABLE2_ORDER]
    assert values[2:-1] == expected
    categories = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert [c for c in categories if c] == ["noise", "blur", "weather", "digital"]
    assert categories.index("blur") == 2 + 3 and categories.index("digital") == 2 + 10


def test_compare_runs_reads_metrics_files_and_labels_by_folder(tmp_path):
    write_report(clean_results(), tmp_path / "baseline", plots=False)
    write_report(clean_results(error_offset=0.5), tmp_path / "mollified", plots=False)
    table = compare_runs([tmp_path / "baseline", tmp_path / "mollified" / "metrics.json"])
    rows = {line.split(" | ")[0].lstrip("| "): line for line in table.splitlines()}
    assert "baseline" in rows and "mollified" in rows
    baseline = json.loads((tmp_path / "baseline" / "metrics.json").read_text())
    assert f"| {100 * baseline['clean']['error']:.1f} |" in rows["baseline"]
    assert f"| {100 * (baseline['clean']['error'] + 0.5):.1f} |" in rows["mollified"]
    with pytest.raises(FileNotFoundError, match="metrics.json"):
        compare_runs([tmp_path / "missing"])


def test_markdown_report_of_clean_results_has_the_summary():
    report = markdown_report(clean_results(), title="tiny")
    assert report.startswith("# tiny")
    assert "Table 1 layout" in report and "Table 2 layout" not in report
