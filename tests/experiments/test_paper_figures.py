"""Figs. 5-10 draw the numbers of the runs' metrics.json (mean over seeds) and Fig. 7 the
Beta densities; each figure is captured before it is written and its data read back."""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np
import pytest

import probmoll.utils.figures
from experiments import paper_figures
from experiments.runs import Run


@pytest.fixture
def drawn(monkeypatch):
    """The figures the functions save, in order, instead of PNG files."""
    figures = []

    def capture(figure, path, **kwargs):
        figures.append(figure)
        return Path(path)

    monkeypatch.setattr(paper_figures, "save_figure", capture)
    monkeypatch.setattr(probmoll.utils.figures, "save_figure", capture)
    return figures


def fake_run(seed: int, label: str, offset: float) -> Run:
    """Numbers that differ by setting (``offset``) and seed."""
    base = offset + 0.01 * seed
    cells = {
        name: {
            "1": {"error": base + 0.1 + k},
            "2": {"error": base + 0.2 + k},
            "mean": {"error": base + 0.15 + k},
        }
        for k, name in ((0.0, "gaussian_noise"), (0.05, "defocus_blur"))
    }
    metrics = {
        "clean": {"error": base, "nll": 2 * base, "ece": base / 2},
        "corrupted": {
            "mean": {"error": base + 0.2, "nll": 2 * base + 0.5, "ece": base / 2 + 0.05},
            "by_category": {
                c: {"error": base + 0.1 * (i + 1)}
                for i, c in enumerate(("noise", "blur", "weather", "digital"))
            },
            "by_corruption": cells,
            "by_severity": {"1": {"error": base + 0.1}, "2": {"error": base + 0.3}},
        },
    }
    return Run(f"{label}-{seed}", {"seed": str(seed), "setting": label}, Path("."), metrics, {})


def mean_of(runs, get):
    return statistics.fmean(get(run.metrics) for run in runs)


def test_fig7_draws_the_beta_densities(drawn):
    paper_figures.beta_density_figure([(1.0, 2.0), (1.0, 8.0), (2.0, 3.0), (1.0, 2.0)], "x", "t")
    (figure,) = drawn
    curves = [line for line in figure.axes[0].lines if len(line.get_xdata()) > 2]
    assert len(curves) == 3  # the repeated (1, 2) drawn once
    for line in curves:
        t = np.asarray(line.get_xdata())
        label = line.get_label()
        if label.startswith("Beta(1, 2)"):
            expected, mean = 2 * (1 - t), 1 / 3  # closed forms, not scipy
        elif label.startswith("Beta(1, 8)"):
            expected, mean = 8 * (1 - t) ** 7, 1 / 9
        else:
            expected, mean = 12 * t * (1 - t) ** 2, 2 / 5
        np.testing.assert_allclose(line.get_ydata(), expected, rtol=1e-9, atol=1e-12)
        assert f"E[t] = {mean:.2f}" in label


def test_fig5_arrows_go_from_the_mean_off_to_the_mean_on(drawn):
    off = [fake_run(s, "off", 0.30) for s in (0, 1, 2)]
    on = [fake_run(s, "on", 0.20) for s in (0, 1)]
    paper_figures.clean_corrupted_figure({"fcr": (off, on)}, "x", "title")
    (figure,) = drawn
    panels = (("error", 100), ("nll", 1), ("ece", 100))
    for axis, (metric, scale) in zip(figure.axes, panels, strict=True):
        (arrow,) = axis.texts

        def point(runs, metric=metric, scale=scale):
            clean = statistics.fmean(r.metrics["clean"][metric] for r in runs)
            corrupted = statistics.fmean(r.metrics["corrupted"]["mean"][metric] for r in runs)
            return (scale * clean, scale * corrupted)

        assert arrow.xyann == pytest.approx(point(off))
        assert arrow.xy == pytest.approx(point(on))


def test_fig6a_bars_are_the_mean_errors_per_category(drawn):
    rows = {"none": [fake_run(s, "none", 0.3) for s in (0, 1)], "blur": [fake_run(0, "b", 0.1)]}
    paper_figures.category_figure(rows, "x", "title")
    (figure,) = drawn
    heights = [patch.get_height() for patch in figure.axes[0].patches]
    none = rows["none"]
    expected_none = [100 * mean_of(none, lambda m: m["clean"]["error"])]
    expected_none += [
        100 * mean_of(none, lambda m, c=c: m["corrupted"]["by_category"][c]["error"])
        for c in ("noise", "blur", "weather", "digital")
    ]
    expected_none.append(100 * mean_of(none, lambda m: m["corrupted"]["mean"]["error"]))
    assert heights[:6] == pytest.approx(expected_none)
    assert heights[6] == pytest.approx(10.0)  # the blur setting's clean error, one seed


def test_fig6bc_points_are_ordered_means(drawn):
    points = [(4.0, [fake_run(0, "b4", 0.4)]), (1.0, [fake_run(s, "b1", 0.2) for s in (0, 1)])]
    paper_figures.ablation_figure(points, "beta", "x", "title")
    (figure,) = drawn
    corrupted = figure.axes[0].lines[0]
    assert list(corrupted.get_xdata()) == [1.0, 4.0]
    assert list(corrupted.get_ydata()) == pytest.approx([100 * (0.205 + 0.2), 100 * 0.6])


def test_fig8_lines_are_per_corruption_and_severity(drawn):
    rows = {"diffusion": [fake_run(s, "d", 0.1) for s in (0, 1)]}
    paper_figures.corruption_severity_figure(rows, "x", "title")
    (figure,) = drawn
    visible = [axis for axis in figure.axes if axis.get_visible()]
    assert [axis.get_title() for axis in visible] == [
        "gaussian_noise (noise)",
        "defocus_blur (blur)",
    ]
    line = visible[1].lines[0]
    assert list(line.get_xdata()) == [1, 2]
    assert list(line.get_ydata()) == pytest.approx([100 * (0.105 + 0.15), 100 * (0.105 + 0.25)])


def test_fig9_curves_are_means_over_seeds(drawn):
    rows = {"on": [fake_run(s, "on", 0.2) for s in (0, 1, 2)]}
    paper_figures.severity_figure(rows, "x", "title")
    (figure,) = drawn
    error = figure.axes[0].lines[0]
    assert list(error.get_xdata()) == [0, 1, 2]
    assert list(error.get_ydata()) == pytest.approx([21.0, 31.0, 51.0])
    assert len(figure.axes[0].collections) == 1  # the ± std band
