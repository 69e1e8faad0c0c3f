def test_geometric_likelihood_is_the_jensen_bound(run_script):
    results, _ = run_script("eq28_geometric")
    assert all(results["conclusions"].values()), results["conclusions"]
    assert [row["K"] for row in results["rows"]] == [1, 4, 16]
    assert results["eq21_quadrature"] < results["eq20_quadrature"]
    for row in results["rows"]:
        assert abs(row["eq28_log_product"] - row["eq22_jensen"]) < 1e-10
