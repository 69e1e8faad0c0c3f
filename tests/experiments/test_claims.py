"""The paper's claims checked on runs: the verdict rule, the pairing by seed, and the
paper's numbers read from experiments/paper_reference.yaml (against the paper's printed
tables, worked out by hand below)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from experiments.claim_checks import (
    claim_rows,
    comparison_differences,
    paper_number,
    table2_value,
)
from experiments.claims import (
    AGREES,
    CANNOT_TELL,
    DISAGREES,
    NOT_RUN,
    STUDY_CLAIMS,
    Comparison,
    combine_verdicts,
    paired_verdict,
)
from experiments.runs import Run
from experiments.study import STUDY_GRIDS

REPO = Path(__file__).resolve().parents[2]
REFERENCE = yaml.safe_load((REPO / "experiments" / "paper_reference.yaml").read_text())


def run(seed: int, enabled: bool, augment: str = "fcr", **values: float) -> Run:
    metrics = {"clean": {"error": values.get("clean", 0.1)}, "corrupted": {"mean": {}}}
    metrics["corrupted"]["mean"]["error"] = values.get("corrupted", 0.3)
    labels = {"seed": str(seed), "augment": augment, "mollify.enabled": str(enabled).lower()}
    config = {"data": {"name": "fashion-mnist"}}
    return Run(f"run-{seed}-{enabled}", labels, Path("."), metrics, {"config": config})


@pytest.mark.parametrize(
    "differences,expect,verdict",
    [
        ([-0.05, -0.04, -0.06], "lower", AGREES),  # mean -0.05, SE 0.006
        ([-0.05, -0.04, -0.06], "higher", DISAGREES),
        ([-0.05, 0.01, -0.06], "lower", CANNOT_TELL),  # one seed the other way
        ([-0.10, -0.01], "lower", CANNOT_TELL),  # mean -0.055 < 2 SE = 0.09
        ([-0.10, -0.06], "lower", AGREES),  # mean -0.08 >= 2 SE = 0.04
        ([-0.03], "lower", AGREES),  # one seed beyond the 2-point margin
        ([-0.01], "lower", CANNOT_TELL),  # one seed within it
        ([0.03], "lower", DISAGREES),
        ([], "lower", NOT_RUN),
        ([0.005, 0.007], "at most", AGREES),  # +0.6 points of clean error, bound 2 points
        ([0.05, 0.06], "at most", DISAGREES),
        ([0.01, -0.01], "not lower", AGREES),  # no detectable improvement
        ([-0.05, -0.04, -0.06], "not lower", DISAGREES),
        ([-0.01], "not lower", CANNOT_TELL),
        ([0.04], "not lower", AGREES),
    ],
)
def test_verdict_rule(differences, expect, verdict):
    assert paired_verdict(differences, expect, margin=0.02, bound=0.02) == verdict


def test_verdict_rule_two_standard_errors_boundary():
    # n = 2: SE = |d1 - d2| / 2, so the mean must reach |d1 - d2|.
    assert paired_verdict([-0.029, -0.010], "lower", margin=0.02) == AGREES  # 0.0195 >= 0.019
    assert paired_verdict([-0.031, -0.010], "lower", margin=0.02) == CANNOT_TELL  # 0.0205 < 0.021


def test_combined_verdicts():
    assert combine_verdicts([AGREES, AGREES]) == AGREES
    assert combine_verdicts([AGREES, CANNOT_TELL]) == CANNOT_TELL
    assert combine_verdicts([AGREES, DISAGREES]) == DISAGREES
    assert combine_verdicts([NOT_RUN, NOT_RUN]) == NOT_RUN
    assert combine_verdicts([NOT_RUN, AGREES]) == CANNOT_TELL


def test_differences_are_paired_by_seed_within_the_context():
    runs = [
        run(0, False, corrupted=0.40),
        run(0, True, corrupted=0.30),
        run(1, False, corrupted=0.50),
        run(1, True, corrupted=0.45),
        run(2, False, corrupted=0.90),  # seed 2 has no run with mollification
        run(0, False, "fcr+trivaug", corrupted=0.2),
        run(0, True, "fcr+trivaug", corrupted=0.1),
    ]
    comparison = Comparison(
        "table1", "mollify.enabled", "false", "true", "corrupted.mean.error", (("augment", "fcr"),)
    )
    assert comparison_differences(runs, comparison) == pytest.approx([-0.10, -0.05])


def test_paper_numbers_come_from_tables_5_and_2():
    claim = next(c for c in STUDY_CLAIMS if c.claim == "mollification lowers corrupted error (FCR)")
    text = paper_number(claim, REFERENCE)
    # Table 5, FCR, corrupted error: CIFAR-10 21.2 (1.01) -> 10.2 (0.15);
    # CIFAR-100 47.1 (0.33) -> 34.7 (0.19); TinyImageNet 76.0 (0.16) -> 60.1 (0.20).
    assert "C10 -11.0 ± 1.0" in text
    assert "C100 -12.4 ± 0.4" in text
    assert "TIN -15.9 ± 0.3" in text
    # Table 2, CIFAR-10, noise types (shot, impulse, gauss): none 23, 13, 31; blur 20, 17, 27;
    # diffusion 5.7, 7.3, 6.4.
    none, diffusion = REFERENCE["table2"]["cifar10"][0], REFERENCE["table2"]["cifar10"][1]
    noise = "corrupted.by_category.noise.error"
    assert table2_value(none, noise) == pytest.approx((23 + 13 + 31) / 3)
    assert table2_value(diffusion, noise) == pytest.approx((5.7 + 7.3 + 6.4) / 3)
    # The corrupted mean is over the 15 types (the printed "mean", 12, also averages clean).
    assert table2_value(none, "corrupted.mean.error") == pytest.approx(181.0 / 15)
    noise_claim = next(c for c in STUDY_CLAIMS if c.claim.startswith("noise mollification"))
    expected = (5.7 + 7.3 + 6.4) / 3 - (20 + 17 + 27) / 3  # diffusion - blur, -14.9
    assert f"C10 {expected:+.1f}" in paper_number(noise_claim, REFERENCE)
    fig6 = next(c for c in STUDY_CLAIMS if "beta = 4, 8" in c.claim)
    assert "beta = 2" in paper_number(fig6, REFERENCE)


def test_every_claim_names_a_study_and_unrun_claims_say_so():
    assert {c.comparisons[0].study for c in STUDY_CLAIMS} <= set(STUDY_GRIDS)
    grids = {key: scales.get("cpu", ()) for key, scales in STUDY_GRIDS.items()}
    rows = claim_rows({}, grids, REFERENCE)
    assert rows and all(row[-1] == f"**{NOT_RUN}**" for row in rows)
    # One row per claim and grid of its study.
    assert len(rows) == sum(max(1, len(grids[c.comparisons[0].study])) for c in STUDY_CLAIMS)
    # Runs of one grid: its rows get verdicts, the other grid's stay "not run yet".
    runs = [run(s, e, corrupted=c) for s, e, c in ((0, False, 0.5), (0, True, 0.3))]
    rows = claim_rows({"cpu-table1-fmnist": runs}, grids, REFERENCE, STUDY_CLAIMS[:1])
    assert [row[2].split()[0] for row in rows] == [
        "`cpu-table1-fmnist`",
        "`cpu-table1-cifar10-jpeg`",
    ]
    assert rows[0][-1] == f"**{AGREES}**" and "-20.0 pp (n = 1)" in rows[0][-2]
    assert rows[1][-1] == f"**{NOT_RUN}**"
