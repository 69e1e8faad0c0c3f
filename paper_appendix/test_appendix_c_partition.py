import json


def test_closed_form_partition_matches_quadrature(run_script):
    results, out = run_script("appendix_c_partition")
    assert results["agrees"] and results["max_abs_error_log_Z"] < 1e-8
    # The printed sum_j (K - f_j)/(log K - log f_j), evaluated as written, also agrees.
    assert results["printed_form_agrees"] and results["max_abs_error_log_Z_printed"] < 1e-8
    for case in results["cases"]:
        assert case["min_abs_log_K_minus_log_f"] > 0
        assert abs(case["log_Z_printed"] - case["log_Z_quad"]) < 1e-8
    assert all("max_abs_error_printed" in row for row in results["table"])
    assert {row["C"] for row in results["table"]} == {2, 3, 10, 100}
    erratum = results["erratum_a_equals_gamma"]
    assert abs(erratum["Z_closed_form"] / erratum["Z_quad_a_in_0_1"] - 1) < 1e-9
    assert abs(erratum["Z_quad_a_in_minus1_0"] - erratum["Z_closed_form"]) > 0.05
    assert erratum["min_label_entry_at_a_minus_0.7"] < 0
    assert results["uniform_predictions"]["printed_formula_at_uniform"] is None  # NaN
    assert results["uniform_predictions"]["log_partition_at_uniform"] == 0.0
    assert json.loads((out / "appendix_c_partition.json").read_text()) == results
    markdown = (out / "appendix_c_partition.md").read_text()
    assert "| 100 |" in markdown and "log Z printed - log Z quad" in markdown
