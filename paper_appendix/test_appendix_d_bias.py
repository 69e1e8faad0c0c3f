def test_log_mean_exp_bias_is_order_one_over_k_and_durbin_koopman_removes_it(run_script):
    results, out = run_script("appendix_d_bias")
    assert all(
        value is True
        for key, value in results["conclusions"].items()
        if not key.endswith("per_toy")
    )
    for toy in ("beta", "mollified_classifier"):
        rows = {row["K"]: row for row in results[toy]["rows"]}
        assert set(rows) == {1, 2, 4, 8, 16}
        assert "durbin_koopman" not in rows[1]
        # Log-mean-exp bias halves as K doubles; Durbin-Koopman is far smaller at K = 2.
        assert 1.6 < rows[4]["log_mean_exp"]["bias"] / rows[8]["log_mean_exp"]["bias"] < 2.5
        assert abs(rows[2]["durbin_koopman"]["bias"]) < 0.3 * abs(rows[2]["log_mean_exp"]["bias"])
    assert (out / "appendix_d_bias.png").stat().st_size > 10_000
    assert (out / "appendix_d_bias.json").exists() and (out / "appendix_d_bias.md").exists()
