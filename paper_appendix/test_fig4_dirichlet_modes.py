import numpy as np


def test_dirichlet_modes_one_hot_tempered_at_vertex_smoothed_inside(run_script):
    results, out = run_script("fig4_dirichlet_modes")
    assert all(results["conclusions"].values()), results["conclusions"]
    for case in results["cases"]:
        expected = [1.0, 0.0, 0.0] if case["label"] != "smooth" else case["y"]
        assert np.allclose(case["mode_numerical"], expected, atol=1e-5)
    assert (out / "fig4_dirichlet_modes.png").stat().st_size > 10_000
