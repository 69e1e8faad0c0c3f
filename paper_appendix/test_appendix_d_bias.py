def test_log_mean_exp_bias_is_order_one_over_k_and_durbin_koopman_removes_it(run_script):
    results, out = run_script("appendix_d_bias")
    conclusions = results["conclusions"]
    verdicts = {key: value for key, value in conclusions.items() if not key.endswith("per_toy")}
    assert verdicts and all(value is True for value in verdicts.values()), verdicts
    for lme, dk in zip(
        conclusions["log_mean_exp_log_log_slope_per_toy"],
        conclusions["durbin_koopman_log_log_slope_per_toy"],
        strict=True,
    ):
        assert abs(lme["slope"] + 1) < 0.15 and lme["standard_error"] < 0.05
        assert -2.5 < dk["slope"] < -1.5
    for toy in ("beta", "mollified_classifier"):
        rows = {row["K"]: row for row in results[toy]["rows"]}
        assert set(rows) == {1, 2, 4, 8, 16}
        assert "durbin_koopman" not in rows[1] and "theory_durbin_koopman_bias" not in rows[1]
        # Log-mean-exp bias halves as K doubles; Durbin-Koopman is far smaller at K = 2.
        assert 1.6 < rows[4]["log_mean_exp"]["bias"] / rows[8]["log_mean_exp"]["bias"] < 2.5
        assert abs(rows[2]["durbin_koopman"]["bias"]) < 0.3 * abs(rows[2]["log_mean_exp"]["bias"])
        for row in rows.values():
            for name in ("jensen", "log_mean_exp", "durbin_koopman"):
                if name in row:
                    assert 0 < row[name]["standard_error"] < 1e-3
        # The remaining Durbin-Koopman bias is resolved (not zero) at K = 16 and is c2 / K^2.
        dk16 = rows[16]["durbin_koopman"]
        assert abs(dk16["bias"]) > 4 * dk16["standard_error"]
        assert abs(dk16["bias"] / rows[16]["theory_durbin_koopman_bias"] - 1) < 0.3
    # c2 = 3 v^2 / 4 - 2 mu3 / (3 I^3); Beta(2, 3): I = 2/5, v = 1/4, skewness 2/7.
    coefficients = results["beta"]["coefficients"]
    third_central_moment = (2 / 7) * 0.04**1.5
    assert abs(coefficients["leading_bias_coefficient"] - 0.125) < 1e-12
    expected_c2 = 3 * 0.25**2 / 4 - 2 * third_central_moment / (3 * 0.4**3)
    assert abs(coefficients["durbin_koopman_second_order"] - expected_c2) < 1e-12
    markdown = (out / "appendix_d_bias.md").read_text()
    assert "bias / s.e." in markdown and "c2 / K^2" in markdown
    assert (out / "appendix_d_bias.png").stat().st_size > 10_000
    assert (out / "appendix_d_bias.json").exists()
