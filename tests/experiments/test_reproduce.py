"""``experiments/reproduce.py``: every target end to end at tiny scale.

One module fixture runs ``all --scale tiny`` (synthetic gratings, one seed: about a minute;
runs with equal configs are shared across targets). The tests check that every target
wrote its table or figures, that the numbers in the tables are those of the runs'
metrics.json and of the paper's tables, that Table 2's rows were all measured on the same
images, that a second call trains nothing and resumes an interrupted run, that a run already
in the results folder is not trained again unless its configuration changed, and the exit
status of targets a scale has no analogue of.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
import torch
import yaml

from experiments import report, targets
from experiments.claims import STUDY_CLAIMS, VERDICT_RULE
from experiments.script_targets import APPENDIX_B
from experiments.study import Study

REPO = Path(__file__).resolve().parents[2]
REFERENCE = yaml.safe_load((REPO / "experiments" / "paper_reference.yaml").read_text())


def reproduce(*argv: str) -> tuple[int, str]:
    """``reproduce.py ARGV`` in this process: (exit status, what it printed)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = targets.main(list(argv))
    return status, out.getvalue()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    status, log = reproduce("all", "--scale", "tiny", "--runs", str(root))
    assert status == 0, log[-3000:]
    return root, root / "results", log


def metrics(path: Path) -> dict:
    return json.loads(path.read_text())


def table_rows(path: Path) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in path.read_text().splitlines()
        if line.startswith("| ") and not line.startswith("| ---")
    ]


def test_every_target_wrote_its_outputs(tiny):
    _, results, log = tiny
    tables = {
        "table1",
        "table2",
        "table3",
        "table4",
        "table5",
        "fig6",
        "appendix-c",
        "appendix-d",
        "estimators",
        "budget",
        "claims",
    }
    assert {p.stem for p in (results / "tables").glob("*_tiny.md")} == {f"{t}_tiny" for t in tables}
    figures = {p.name for p in (results / "figures").iterdir()}
    for stem in ("cpu-table1-fmnist", "cpu-table1-cifar10-jpeg"):
        for fig in ("fig5", "fig9", "fig10"):
            assert f"{fig}_{stem}.png" in figures
    for fig in ("fig6a", "fig8"):
        assert f"{fig}_cpu-table2-fmnist.png" in figures
    for fig in ("fig6b", "fig6c", "fig7"):
        assert f"{fig}_cpu-fig6-fmnist.png" in figures
    assert "fig4_dirichlet_modes.png" in figures
    if APPENDIX_B.is_file():
        assert "fig11_synthetic.png" in figures
    assert (results / "fig3" / "fig3_synthetic.json").is_file()
    for recorded in (
        results / "fig3" / "fig3_synthetic.json",
        results / "figures" / "fig11_synthetic.json",
    ):
        if recorded.is_file():  # the commands the scripts record name no absolute folder
            command = json.loads(recorded.read_text())["command"]
            assert not any(word.startswith("/") for word in command.split()), command
    for path in (results / "figures").glob("*.png"):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for target in targets.ALL_ORDER:
        assert f"{target}: " in log  # every target ran (with its time)


def test_table1_cells_are_the_runs_metrics_and_the_papers(tiny):
    root, results, _ = tiny
    rows = table_rows(results / "tables" / "table1_tiny.md")
    row = next(r for r in rows if r[:2] == ["fcr+trivaug", "yes"])
    name = "seed-0__augment-fcr+trivaug__mollify.enabled-true"
    run = json.loads((results / "cpu-table1-fmnist" / name / "run.json").read_text())
    source = metrics(Path(run["config"]["out"]) / "metrics.json")  # the run folder itself
    assert Path(run["config"]["out"]).parent == root / "by-config"
    assert row[2] == "1"
    assert row[3] == f"{100 * source['clean']['error']:.1f}"
    assert row[5] == f"{100 * source['corrupted']['mean']['error']:.1f}"
    assert row[7] == f"{source['clean']['nll']:.3f}"
    paper = next(
        r for r in REFERENCE["table1"]["cifar10"] if r["augment"] == "fcr+trivaug" and r["mollify"]
    )
    assert [row[4], row[6], row[8]] == [
        f"{paper['clean.error']:g}",
        f"{paper['corrupted.mean.error']:g}",
        f"{paper['clean.nll']:g}",
    ]
    assert row[12] == f"{100 * paper['clean.ece']:g}"  # the paper's ECE fraction, in %
    table5 = table_rows(results / "tables" / "table5_tiny.md")
    assert any(r[:2] == ["fcr+trivaug", "yes"] and r[4] == "3.7 (0.07)" for r in table5)
    text = (results / "tables" / "table1_tiny.md").read_text()
    preset = source["data"].get("corruption_preset")
    assert f"corruptions: {preset or 'imagenet-c'} (generated)" in text


def test_table2_rows_are_the_grids_own_runs_on_the_same_images(tiny):
    _, results, _ = tiny
    runs = {
        p.name: metrics(p / "metrics.json") for p in (results / "cpu-table2-fmnist").glob("seed-*")
    }
    assert len(runs) == 4  # tiny: one seed, none + three role sets
    assert len({m["clean"]["count"] for m in runs.values()}) == 1
    assert len({m["data"].get("corruption_preset") for m in runs.values()}) == 1
    rows = table_rows(results / "tables" / "table2_tiny.md")
    none = next(r for r in rows if r[:2] == ["ours", "none"])
    source = runs["seed-0__mollification-none"]
    assert none[3] == f"{100 * source['clean']['error']:.1f}"
    assert [r[1] for r in rows if r[0] == "ours"] == ["none", "diffusion", "blur", "diff+blur"]
    assert sum(r[0] == "paper (CIFAR-10)" for r in rows) == 4


def test_a_run_in_the_results_folder_is_not_trained_again_unless_its_config_changed(tiny):
    root, results, _ = tiny
    study = Study("tiny", results, runs_root=root)
    point = study.spec("cpu-table2-fmnist").points[0]
    assert not study.collected("cpu-table2-fmnist", point)  # its run folder decides
    run_dir = Path(point.config.out)
    moved = run_dir.with_name(run_dir.name + ".moved")
    run_dir.rename(moved)
    try:
        _check_collected(study, results, point)
    finally:
        moved.rename(run_dir)


def _check_collected(study, results, point):
    assert study.collected("cpu-table2-fmnist", point)
    copied = results / "cpu-table2-fmnist" / point.name / "run.json"
    info = json.loads(copied.read_text())
    stale = dict(info, config={**info["config"], "epochs": info["config"]["epochs"] + 1})
    copied.write_text(json.dumps(stale))
    try:
        assert not study.collected("cpu-table2-fmnist", point)
    finally:
        copied.write_text(json.dumps(info))
    assert not study.collected("cpu-table2-fmnist", study.spec("cpu-budget-fmnist").points[0])


def test_claims_are_all_stated_with_the_rule(tiny):
    _, results, _ = tiny
    text = (results / "tables" / "claims_tiny.md").read_text()
    assert VERDICT_RULE in text
    for claim in STUDY_CLAIMS:
        assert claim.claim in text
    rows = table_rows(results / "tables" / "claims_tiny.md")[1:]
    verdicts = {row[-1] for row in rows}
    assert verdicts <= {"**agrees**", "**disagrees**", "**cannot tell**"}  # every claim ran


def test_report_states_the_claims(tiny):
    root, results, _ = tiny
    grids = [root / "grids" / f"{stem}.yaml" for stem in ("cpu-table1-fmnist", "cpu-table2-fmnist")]
    text = report.build_report(grids, results)
    assert "## The paper's claims, tested" in text
    # Claims of grids outside the report say they were not run.
    assert "not run yet" in text


def test_a_second_call_trains_nothing_and_resumes_an_interrupted_run(tiny):
    root, results, _ = tiny
    status, log = reproduce("table1", "--scale", "tiny", "--runs", str(root))
    assert status == 0
    assert "cpu-table1-fmnist: 4 of 4 run(s) finished" in log
    assert "run seed-" not in log
    name = "seed-0__objective-normalized-jensen-k1"
    run_dir = Path(
        json.loads((results / "cpu-objectives" / name / "run.json").read_text())["config"]["out"]
    )
    info = json.loads((run_dir / "run.json").read_text())
    (run_dir / "run.json").write_text(json.dumps(dict(info, status="interrupted")))
    status, log = reproduce("appendix-c", "--scale", "tiny", "--runs", str(root))
    assert status == 0
    assert "cpu-objectives: 9 of 10 run(s) finished; running 1" in log
    assert "resumed" in log and f"run {name}" in log
    assert json.loads((run_dir / "run.json").read_text())["status"] == "finished"


def test_dry_run_writes_nothing(tmp_path):
    status, log = reproduce("table2", "--scale", "tiny", "--runs", str(tmp_path), "--dry-run")
    assert status == 0
    assert "cpu-table2-fmnist: 0 of 4 run(s) finished; would run 4" in log
    assert "would write" in log and "table2_tiny.md" in log
    assert not (tmp_path / "results").exists() and not (tmp_path / "by-config").exists()


def test_bayes_dry_run_says_what_it_would_do_and_does_nothing(tmp_path):
    status, log = reproduce("bayes", "--scale", "tiny", "--runs", str(tmp_path), "--dry-run")
    assert status == 0, log[-2000:]
    assert "bayes: would train" in log and "bayes: would fit and write" in log
    assert not (tmp_path / "results").exists() and not (tmp_path / "by-config").exists()


def test_no_train_writes_from_what_exists_and_trains_nothing(tmp_path):
    status, log = reproduce("fig9", "--scale", "tiny", "--runs", str(tmp_path), "--no-train")
    assert status == 0, log[-2000:]
    assert "left out (not trained)" in log
    assert not (tmp_path / "by-config").exists()  # no run folder was made


@pytest.mark.parametrize(
    "target,scale,reason",
    [
        ("table3", "cpu", "no CPU-scale analogue"),
        ("table4", "cpu", "no CPU-scale analogue"),
        ("fig11", "paper", "not the paper's TinyImageNet"),
        ("budget", "paper", "no budget study"),
    ],
)
def test_targets_without_an_analogue_exit_2(tmp_path, capsys, target, scale, reason):
    argv = [target, "--scale", scale, "--results", str(tmp_path), "--dry-run"]
    status, _ = reproduce(*argv)
    assert status == 2
    assert reason in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_list_names_every_target():
    status, out = reproduce("list")
    assert status == 0
    for name in targets.TARGETS:
        assert name in out


def test_bayes_study_records_every_fit_with_its_provenance(tiny):
    from experiments.bayes_study import load_settings

    _, results, log = tiny
    record = json.loads((results / "bayes" / "bayes_tiny.json").read_text())
    settings = load_settings("tiny")
    assert record["settings"] == settings
    assert record["command"].startswith("python experiments/reproduce.py all --scale tiny")
    assert set(record["networks"]) == {"off", "on"}
    for key, network in record["networks"].items():
        run = json.loads((Path(network["run"]) / "run.json").read_text())
        assert run["status"] == "finished"
        assert run["config"]["mollify"]["enabled"] is (key == "on")
        fits = {(f["likelihood"], f["temperature"]) for f in network["fits"]}
        assert fits == {
            (lik, t) for lik in settings["likelihoods"] for t in settings["temperatures"]
        }
        for fit in network["fits"]:
            for name in ("clean", "corrupted"):
                assert 0 <= fit[f"{name}.error"] <= 1 and 0 <= fit[f"{name}.ece"] <= 1
                assert fit[f"{name}.nll"] > 0
            assert fit["elpd_loo"] < 0 and 0 <= fit["pareto_k_over_0.7"] <= fit["rows"]
        for table in network["compare"].values():
            assert sorted(row["rank"] for row in table.values()) == list(range(len(table)))
    checks = record["networks"]["on"]["nuts"]
    assert [c["likelihood"] for c in checks] == settings["nuts"]["likelihoods"]
    for check in checks:
        r_hat = float("inf") if check["r_hat_max"] is None else check["r_hat_max"]
        assert check["converged"] == (r_hat <= 1.01 and check["divergences"] == 0)
    text = (results / "bayes" / "bayes_tiny.md").read_text()
    fit = record["networks"]["on"]["fits"][0]
    assert (
        f"| {fit['likelihood']} | {fit['temperature']:g} | {100 * fit['clean.error']:.1f} |" in text
    )
    for suffix in ("temperature", "loo"):
        assert (results / "bayes" / f"bayes_tiny_{suffix}.png").read_bytes()[:4] == b"\x89PNG"


def test_bayes_study_reuses_its_record_and_features_and_needs_the_checkpoints(tiny, tmp_path):
    root, results, _ = tiny
    record = results / "bayes" / "bayes_tiny.json"
    before = record.read_text()
    status, log = reproduce("bayes", "--scale", "tiny", "--runs", str(root))
    assert status == 0, log[-2000:]
    assert "holds these settings' fits" in log and record.read_text() == before
    stale = json.loads(before)
    stale["settings"] = {**stale["settings"], "copies": 99}
    record.write_text(json.dumps(stale))
    status, log = reproduce("bayes", "--scale", "tiny", "--runs", str(root))
    assert status == 0, log[-2000:]
    assert "bayes: features of" not in log  # fitted again, from the cached features
    assert json.loads(record.read_text())["settings"] == json.loads(before)["settings"]
    status, log = reproduce("bayes", "--scale", "tiny", "--runs", str(tmp_path), "--no-train")
    assert status == 1 and not (tmp_path / "results" / "bayes").exists()


def test_bayes_training_rows_of_the_first_images_keep_every_copy():
    from experiments.bayes_study import _training_rows

    n, copies = 5, 3
    features = {
        "train": torch.arange(n, dtype=torch.float32)[:, None],
        "train_labels": torch.arange(n),
        "mollified": torch.arange(n * copies, dtype=torch.float32)[:, None],
        "mollified_targets": torch.eye(n * copies),
        "settings": {"copies": copies},
    }
    form, rows, targets, k = _training_rows(features, "mollified", images=2)
    assert (form, k) == ("smooth", copies)
    assert rows.flatten().tolist() == [0, 1, 5, 6, 10, 11]  # copy k of image b: row k * n + b
    assert targets.argmax(-1).tolist() == [0, 1, 5, 6, 10, 11]
    form, rows, labels, k = _training_rows(features, "clean", images=2)
    assert (form, k, rows.flatten().tolist(), labels.tolist()) == ("ce", 1, [0, 1], [0, 1])


def test_bayes_report_section_is_computed_from_the_record(tiny):
    from experiments.bayes_outputs import report_lines

    _, results, _ = tiny
    record = json.loads((results / "bayes" / "bayes_tiny.json").read_text())
    text = "\n".join(report_lines(results, "tiny"))
    assert text.startswith("## The Bayesian last layer")
    assert "Kapoor et al. (2022" in text and "Wenzel et al. (2020" in text
    network = record["networks"]["on"]
    fits = [f for f in network["fits"] if f["likelihood"] == "clean"]
    best = min(fits, key=lambda f: f["corrupted.nll"])["temperature"]
    assert f"`clean` T = {best:g} (corrupted NLL)" in text
    clean = next(f for f in fits if f["temperature"] == 1.0)
    moll = next(
        f for f in network["fits"] if f["likelihood"] == "mollified" and f["temperature"] == 1.0
    )
    assert f"corrupted NLL {moll['corrupted.nll'] - clean['corrupted.nll']:+.3f}" in text


def test_bayes_diagnostics_of_chains_that_never_moved_are_not_finite():
    import arviz
    import numpy as np

    from experiments.bayes_study import diagnostics

    stuck = arviz.from_dict(posterior={"w": np.stack([np.full(20, 1.0), np.full(20, 2.0)])})
    assert np.isinf(diagnostics(stuck)["r_hat"].max())  # and no warning (warnings are errors)
    mixing = arviz.from_dict(posterior={"w": np.random.default_rng(0).normal(size=(2, 200))})
    assert diagnostics(mixing)["r_hat"].max() < 1.05
