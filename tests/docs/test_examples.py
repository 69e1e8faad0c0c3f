"""Every example of docs/examples/ runs in fast mode, draws its figure and finds what its
page says, checked against closed forms written out here."""

from __future__ import annotations

import math

import pytest

# Each example and the figures its page shows.
FIGURES = {
    "dirichlet_modes": ["dirichlet_modes.png"],
    "tempering_surface": ["tempering_surface.png"],
    "partition_function": ["partition_function.png"],
    "estimator_bias": ["estimator_bias.png"],
    "schedules": ["schedules.png"],
    "posterior_temperature": ["posterior_temperature.png"],
}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_every_example_is_tested(hooks):
    assert sorted(script.stem for script in hooks.example_scripts()) == sorted(FIGURES)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FIGURES))
def test_example_draws_its_figures(examples, name):
    examples(name)
    for figure in FIGURES[name]:
        path = examples.folder / figure
        assert path.read_bytes()[:8] == PNG_SIGNATURE, path
        assert path.stat().st_size > 10_000, path  # a drawn figure, not an empty canvas
    assert (examples.folder / f"{name}.json").is_file()


@pytest.mark.slow
def test_dirichlet_modes(examples):
    rows = examples("dirichlet_modes")["rows"]
    assert len(rows) == 8
    for row in rows:
        gamma, label = row["gamma"], row["label"]
        if row["form"] == "temper":  # Eq. 7: (1 - gamma) e_1, mode at the vertex
            assert label == pytest.approx([1 - gamma, 0, 0])
            expected_mode = [1, 0, 0]
            # 1 / B(1 + y) with alpha = (2 - gamma, 1, 1): Gamma(4 - gamma) / Gamma(2 - gamma).
            assert row["peak_density"] == pytest.approx((3 - gamma) * (2 - gamma), rel=1e-9)
        else:  # Eq. 8: the mode is the smoothed label itself
            expected_mode = [1 - 2 * gamma / 3, gamma / 3, gamma / 3]
            assert label == pytest.approx(expected_mode)
        assert row["mode_grid"] == pytest.approx(expected_mode, abs=1e-12)
        assert row["mode_dirichlet_mode"] == pytest.approx(expected_mode, abs=1e-12)
    tempered = [row["peak_density"] for row in rows if row["form"] == "temper"]
    assert tempered == sorted(tempered, reverse=True)  # tempering flattens the density


@pytest.mark.slow
def test_tempering_surface(examples):
    results = examples("tempering_surface")
    assert results["max_tempered_scale_error"] < 1e-12
    for row in results["rows"]:
        assert row["tempered_distribution_vs_form"] < 1e-12
        assert row["tempered_increasing"]
        gamma = row["gamma"]
        if gamma == 0:
            continue
        closed_form = math.log((3 - 2 * gamma) / gamma)
        assert row["smoothed_argmax_closed_form"] == pytest.approx(closed_form, rel=1e-12)
        assert row["smoothed_argmax_numerical"] == pytest.approx(closed_form, abs=1e-5)
        # -log Z(f) grows as f leaves the uniform point: the normalized maximum lies further out.
        assert row["normalized_argmax_numerical"] > closed_form + 0.1


@pytest.mark.slow
def test_partition_function(examples):
    results = examples("partition_function")
    assert results["max_abs_log_mass"] < 1e-9  # NormalizedSoftLabel integrates to 1
    assert results["log_z_at_centre"] == pytest.approx(0.0, abs=1e-15)
    assert results["max_log_z"] <= 1e-15  # Z <= 1, equal at uniform f
    assert results["argmax_log_z"] == pytest.approx([1 / 3] * 3)
    assert results["printed_form_nan_at_centre"]
    ray = results["ray"]
    assert max(row["log_partition_error"] for row in ray) < 1e-14
    # The printed form loses digits towards the centre, where each term is a ratio of two
    # small differences (how many, from one point to the next, is a matter of rounding).
    near = [row["printed_form_error"] for row in ray if row["logit_scale"] <= 1e-8]
    assert max(near) > 1e-9


@pytest.mark.slow
def test_estimator_bias(examples):
    results = examples("estimator_bias")
    assert all(results["conclusions"].values()), results["conclusions"]
    for toy in results["toys"].values():
        for row in toy["rows"]:
            # Jensen's bias is E log p - log I, whatever K.
            jensen = row["jensen"]
            assert abs(jensen["bias"] - row["exact_jensen_bias"]) < 4 * jensen["standard_error"]
            if row["K"] >= 2:
                assert row["log_mean_exp"]["bias"] < 0  # below log I
                assert jensen["bias"] < row["log_mean_exp"]["bias"]
            if row["K"] >= 4:
                # Durbin-Koopman: the O(1/K) term is gone, what is left is O(1/K^2) and,
                # in these toys, positive: it overcorrects, never significantly below log I.
                dk = row["durbin_koopman"]
                assert dk["bias"] > -4 * dk["standard_error"]
                assert abs(dk["bias"]) < abs(row["log_mean_exp"]["bias"]) / 4
    classifier = results["toys"]["mollified_classifier"]["rows"]
    assert all(
        row["durbin_koopman"]["bias"] > 4 * row["durbin_koopman"]["standard_error"]
        for row in classifier
        if 2 <= row["K"] <= 16
    )


@pytest.mark.slow
def test_schedules(examples):
    results = examples("schedules")
    for row in results["rows"]:
        t = row["t"]
        assert row["gamma_noise"] == pytest.approx(math.sin(t * math.pi / 2) ** 2, abs=1e-6)
        assert row["gamma_blur"] == pytest.approx(t, abs=1e-6)
    # corr(x_t, x)^2 = alpha_t^2 = 1 - gamma_noise for standardised images.
    assert results["max_noise_correlation_error"] < 0.02
    assert results["max_blur_mean_change"] < 1e-5  # the heat blur keeps the DC coefficient
    assert 0.7 < results["png_information_linear_fit"]["slope"] < 1.3


@pytest.mark.slow
def test_posterior_temperature(examples):
    results = examples("posterior_temperature")
    rows = sorted(results["rows"], key=lambda row: row["T"])
    assert [row["T"] for row in rows] == [0.25, 1.0, 4.0]
    confidences = [row["confidence"] for row in rows]
    spreads = [row["weight_posterior_std"] for row in rows]
    # Colder: the data weigh more against the prior, a sharper predictive and posterior.
    assert confidences == sorted(confidences, reverse=True)
    assert confidences[0] - confidences[-1] > 0.05
    assert spreads == sorted(spreads)
    assert all(row["accuracy"] > 0.7 for row in rows)
    assert results["per_copy_vs_geometric"] < 1e-5
