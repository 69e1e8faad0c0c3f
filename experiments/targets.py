"""One command per result of the paper: ``python experiments/reproduce.py TARGET --scale S``.

A target runs what is missing of the grids it reads (:class:`experiments.study.Study`:
the sweep machinery, so a second call skips finished runs and resumes interrupted ones),
copies the finished runs' small files to ``results/<grid>/<run>/`` and writes its table
(``results/tables/<target>_<scale>.md``, the paper's numbers beside ours and the claims
it tests) or its figures (``results/figures/<fig>_<grid>.png``) from those run files.
``all`` runs every target the scale has, then writes every claim
(``results/tables/claims_<scale>.md``) and rebuilds the report (``REPORT.md``;
``REPORT-paper.md`` at paper scale). ``list`` names the targets.

Exit status: 0; 2 for a target this scale has no analogue of (Tables 3-4 at CPU scale:
ImageNet) or whose script is not in the checkout, nothing run; 1 when a run, an
evaluation or a script failed (the tables are still written from what finished).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from experiments.claims import contrasts
from experiments.context import Context, TargetUnavailable, by_label, figure_title, shown
from experiments.paper_figures import (
    ablation_figure,
    beta_density_figure,
    category_figure,
    clean_corrupted_figure,
    corruption_severity_figure,
    severity_figure,
)
from experiments.paper_tables import (
    ablation_lines,
    budget_lines,
    objectives_lines,
    per_corruption_difference_lines,
    role_table_lines,
    table1_lines,
)
from experiments.runs import REPO, group_runs
from experiments.script_targets import fig3, fig4, fig11
from experiments.study import (
    SCALES,
    STUDY_GRIDS,
    Study,
    StudyError,
    paper_dataset,
)
from experiments.tables import contrast_table
from probmoll.utils.io import atomic_write_text

__all__ = ["TARGETS", "Context", "Target", "TargetUnavailable", "main", "run_target"]

PAPER_REFERENCE = REPO / "experiments" / "paper_reference.yaml"


# --------------------------------------------------------------------- the tables
def _table1(ctx: Context, target: str) -> None:
    """Tables 1 and 5 (``target``): the same runs, Table 5's paper numbers with std."""
    lines = []
    for stem in ctx.grids("table1", target):
        lines += table1_lines(ctx.runs(stem), stem, ctx.reference, paper_dataset(stem), target)
    title = "Table 5 (Appendix A.2)" if target == "table5" else "Table 1 (Sec. 4.1)"
    ctx.write_table(target, title, [*lines, *ctx.claims("table1")])


def _table2(ctx: Context, target: str) -> None:
    lines = []
    for stem in ctx.grids("table2", "table2"):
        lines += role_table_lines(ctx.runs(stem), stem, ctx.reference, paper_dataset(stem))
    ctx.write_table("table2", "Table 2 (Sec. 4.4)", [*lines, *ctx.claims("table2")])


def _imagenet_grids(ctx: Context, target: str) -> tuple[str, ...]:
    if ctx.scale == "cpu":
        raise TargetUnavailable(
            f"{target}: ImageNet (a pretrained ResNet-50 fine-tuned 10 epochs, Appendix A.1) "
            "has no CPU-scale analogue; run it with --scale paper on GPUs"
        )
    # Tiny: the tiny Table 1 runs stand in, to exercise the table's code.
    return ctx.grids("table1" if ctx.scale == "tiny" else "imagenet", target)


def _table3(ctx: Context, target: str) -> None:
    lines = []
    for stem in _imagenet_grids(ctx, "table3"):
        lines += table1_lines(ctx.runs(stem), stem, ctx.reference, "imagenet", "table3")
    ctx.write_table("table3", "Table 3 (Appendix A.1)", lines)


def _table4(ctx: Context, target: str) -> None:
    lines = []
    for stem in _imagenet_grids(ctx, "table4"):
        lines += per_corruption_difference_lines(ctx.runs(stem), stem, ctx.reference, "imagenet")
    ctx.write_table("table4", "Table 4 (Appendix A.1)", lines)


OBJECTIVE_SETS = {
    "estimators": (None, "the paper compares its objectives in words only (Sec. 5)"),
    "appendix-c": (
        ("smooth-jensen-k1", "normalized-jensen-k1"),
        "no improvement from the normalized likelihood (Appendix C)",
    ),
    "appendix-d": (
        ("smooth-jensen-k4", "smooth-lme-k4", "smooth-dk-k4", "smooth-geom-k4-T1"),
        "no improvement from the bias-corrected estimator (Sec. 5, Appendix D)",
    ),
}


def _objectives(ctx: Context, target: str) -> None:
    objectives, statement = OBJECTIVE_SETS[target]
    lines = []
    for stem in ctx.grids("objectives", target):
        runs = ctx.runs(stem)
        lines += objectives_lines(runs, stem, objectives, statement)
        spec = ctx.study.spec(stem)
        if target == "estimators" and runs and not ctx.study.dry_run:
            found = contrasts(spec, runs)
            if found:
                lines += ["Paired differences (variant - reference, same seed):", ""]
                lines += [*contrast_table(found), ""]
    claims = ctx.claims("objectives")
    ctx.write_table(target, f"{target} (Appendices C and D)", [*lines, *claims])


def _budget(ctx: Context, target: str) -> None:
    if ctx.scale == "paper":
        raise TargetUnavailable("budget: the paper trains every model 300 epochs; no budget study")
    (table1,) = ctx.grids("table1", "budget")[:1]
    (longer,) = ctx.grids("budget", "budget")
    long_runs = ctx.runs(longer)
    seeds = sorted({run.labels.get("seed", "") for run in long_runs}) or None
    if ctx.study.dry_run:
        seeds = [p.labels.get("seed", "") for p in ctx.study.spec(longer).points]
    short = ctx.study.ensure(table1, {"augment": "fcr"}, seeds)
    lines = ["### " + figure_title(longer, long_runs), ""]
    lines += budget_lines(short, long_runs, ctx.reference, paper_dataset(table1))
    ctx.write_table("budget", "Budget trend (FCR, 1x and 4x the epochs)", lines)


# -------------------------------------------------------------------- the figures
def _fig5(ctx: Context, target: str) -> None:
    for stem in ctx.grids("table1", "fig5"):
        runs = ctx.runs(stem)
        groups = group_runs(runs, ["augment", "mollify.enabled"])
        augments = dict.fromkeys(key[0] for key in groups)
        pairs = {a: (groups.get((a, "false"), []), groups.get((a, "true"), [])) for a in augments}
        title = figure_title(stem, runs)
        ctx.figure(f"fig5_{stem}", clean_corrupted_figure, pairs=pairs, title=title)


def _severity(ctx: Context, target: str) -> None:
    for stem in ctx.grids("table1", target):
        runs = ctx.runs(stem)
        if target == "fig9":
            runs = [r for r in runs if r.labels.get("augment") == "fcr+trivaug"]
        rows = {
            f"{augment}, moll. {'on' if enabled == 'true' else 'off'}": members
            for (augment, enabled), members in group_runs(
                runs, ["augment", "mollify.enabled"]
            ).items()
        }
        title = figure_title(stem, runs) + "; mean over seeds, shaded ± sample std"
        ctx.figure(f"{target}_{stem}", severity_figure, rows=rows, title=title)


def _roles_figure(ctx: Context, target: str) -> None:
    draw = category_figure if target == "fig6a" else corruption_severity_figure
    for stem in ctx.grids("table2", target):
        runs = ctx.runs(stem)
        rows = by_label(runs, "mollification")
        title = figure_title(stem, runs)
        ctx.figure(f"{target}_{stem}", draw, rows=rows, title=title)


def _ablation(ctx: Context, target: str) -> None:
    lines = []
    for stem in ctx.grids("fig6", target):
        runs = ctx.runs(stem)
        settings = {}
        for label, members in by_label(runs, "ablation").items():
            mollify = members[0].info.get("config", {}).get("mollify", {})
            settings[label] = (float(mollify.get("beta", 2.0)), float(mollify.get("k_noise", 1)))
        default = settings.get("default", (2.0, 1.0))
        groups = by_label(runs, "ablation")
        if target == "fig6b":
            points = [(b, groups[label]) for label, (b, k) in settings.items() if k == default[1]]
            xlabel = f"Beta parameter beta (alpha = 1; k = {default[1]:g})"
        else:
            points = [(k, groups[label]) for label, (b, k) in settings.items() if b == default[0]]
            xlabel = f"label decay power k (beta = {default[0]:g})"
        title = figure_title(stem, runs)
        ctx.figure(f"{target}_{stem}", ablation_figure, points=points, xlabel=xlabel, title=title)
        lines += ablation_lines(runs, stem, ctx.reference)
    ctx.write_table("fig6", "Fig. 6(b, c) (Sec. 4.2)", [*lines, *ctx.claims("fig6")])


def _fig7(ctx: Context, target: str) -> None:
    for stem in ctx.grids("fig6", "fig7"):
        configs = [p.config.mollify for p in ctx.study.spec(stem).points]
        parameters = [(c.alpha, c.beta) for c in configs if c.enabled]
        title = f"t ~ Beta(alpha, beta) of the runs of {stem} (paper default: Beta(1, 2))"
        ctx.figure(f"fig7_{stem}", beta_density_figure, parameters=parameters, title=title)


# ------------------------------------------------------------------- the registry
def _bayes(ctx: Context, target: str) -> None:
    from experiments.bayes_study import make

    make(ctx, target)


@dataclass(frozen=True)
class Target:
    """A result of the paper and how to make it: ``make(context, name)``."""

    name: str
    what: str
    make: Callable[[Context, str], None]


TARGETS = {
    t.name: t
    for t in (
        Target("table1", "Table 1: 8 augmentations x moll. off/on (CPU: FCR, TrivAug)", _table1),
        Target("table2", "Table 2: errors per corruption, noise vs blur vs both", _table2),
        Target("table3", "Table 3: ImageNet (paper scale only)", _table3),
        Target("table4", "Table 4: ImageNet per-corruption differences", _table4),
        Target("table5", "Table 5: Table 1 with standard deviations over seeds", _table1),
        Target("fig3", "Fig. 3: PNG information removed by the heat blur", fig3),
        Target("fig4", "Fig. 4: Dirichlet modes of one-hot/tempered/smoothed labels", fig4),
        Target("fig5", "Fig. 5: clean vs corrupted error/NLL/ECE, arrows off -> on", _fig5),
        Target("fig6a", "Fig. 6(a): error per corruption category by role", _roles_figure),
        Target("fig6b", "Fig. 6(b): error against the Beta parameter beta", _ablation),
        Target("fig6c", "Fig. 6(c): error against the label decay power k", _ablation),
        Target("fig7", "Fig. 7: the Beta densities of the temperature t", _fig7),
        Target("fig8", "Fig. 8: error per corruption and severity by role", _roles_figure),
        Target("fig9", "Fig. 9: metrics per severity, FCR+TrivAug off/on", _severity),
        Target("fig10", "Fig. 10: metrics per severity, every augmentation", _severity),
        Target("fig11", "Fig. 11 (Appendix B): DCT spectra of the corruptions", fig11),
        Target("appendix-b", "Appendix B: same as fig11", fig11),
        Target("appendix-c", "Appendix C: the normalized likelihood", _objectives),
        Target("appendix-d", "Appendix D: the bias-corrected estimator", _objectives),
        Target("estimators", "Every objective and estimator at equal compute", _objectives),
        Target("budget", "CPU only: mollification at 4x the training epochs", _budget),
        Target("bayes", "Bayesian last layer: likelihoods x posterior temperature", _bayes),
    )
}


# `all`: every target once (appendix-b is fig11), grids shared in this order.
ALL_ORDER = tuple(name for name in TARGETS if name != "appendix-b")


def _report(ctx: Context) -> None:
    """Every claim, and the report of the scale's grids (``experiments/report.py``)."""
    from experiments import report

    studies = [key for key in STUDY_GRIDS if ctx.study.grids(key)]
    ctx.write_table("claims", "The paper's claims, tested", ctx.claims(*studies))
    if ctx.study.dry_run or ctx.scale == "tiny":  # tiny: the claims file is the check
        return
    stems = [stem for key in studies for stem in ctx.study.grids(key)]
    if ctx.scale == "cpu":
        grids = [REPO / g for g in report.DEFAULT_GRIDS]
    else:
        grids = [REPO / "experiments" / "grids" / f"{stem}.yaml" for stem in stems]
    name = "REPORT-paper.md" if ctx.scale == "paper" else "REPORT.md"
    text = report.build_report(grids, ctx.results_dir)
    ctx.written.append(atomic_write_text(ctx.results_dir / name, text))


def run_target(name: str, ctx: Context) -> int:
    """Make one target (or ``all``); returns the exit status (see the module)."""
    if name == "all":
        status = 0
        for target in ALL_ORDER:
            start = time.perf_counter()
            try:
                TARGETS[target].make(ctx, target)
            except TargetUnavailable as error:
                print(f"skip {error}", file=ctx.study.log)
            except StudyError as error:
                print(f"{target}: error: {error}", file=sys.stderr)
                status = 1
            print(f"{target}: {time.perf_counter() - start:.1f} s", file=ctx.study.log)
        _report(ctx)
        return 1 if status or ctx.study.failed else 0
    try:
        TARGETS[name].make(ctx, name)
    except TargetUnavailable as error:
        print(f"reproduce: {error}", file=sys.stderr)
        return 2
    except StudyError as error:
        print(f"reproduce: {name}: error: {error}", file=sys.stderr)
        return 1
    if ctx.study.failed:
        print(f"reproduce: failed: {', '.join(ctx.study.failed)}", file=sys.stderr)
        return 1
    return 0


def _list() -> str:
    lines = []
    for target in TARGETS.values():
        lines.append(f"{target.name:<11} {target.what}")
    lines += ["", "grids per study and scale:"]
    for key, scales in STUDY_GRIDS.items():
        for scale, stems in scales.items():
            lines.append(f"  {key:<10} {scale:<5} {', '.join(stems)}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``reproduce.py TARGET --scale {cpu,paper,tiny} [--seeds N] [--dry-run]``."""
    parser = argparse.ArgumentParser(
        prog="reproduce.py", description=__doc__.splitlines()[0].split(": ", 1)[0]
    )
    parser.add_argument("target", choices=[*TARGETS, "all", "list"], help="what to make")
    parser.add_argument("--scale", choices=SCALES, default="cpu", help="default: cpu")
    parser.add_argument(
        "--seeds", type=int, default=None, help="only the first N seeds of each grid"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="say what would run and be written; do nothing"
    )
    parser.add_argument(
        "--no-train",
        action="store_true",
        help="train nothing: write the outputs from the runs that finished (e.g. while a "
        "study is still running elsewhere)",
    )
    parser.add_argument(
        "--max-parallel",
        type=int,
        default=None,
        help="cpu: run N grid points at a time, each in its own process (default: one by one)",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=None,
        help="results folder (default: results/; tiny: RUNS/results)",
    )
    parser.add_argument(
        "--runs",
        type=Path,
        default=REPO / "runs" / "tiny",
        help="tiny scale: folder of its grids, runs and cache (default: runs/tiny)",
    )
    args = parser.parse_args(argv)
    if args.target == "list":
        print(_list())
        return 0
    for option in ("seeds", "max_parallel"):
        value = getattr(args, option)
        if value is not None and value < 1:
            parser.error(f"--{option.replace('_', '-')} must be >= 1, got {value}")
    results = args.results or (args.runs / "results" if args.scale == "tiny" else REPO / "results")
    study = Study(
        args.scale,
        results.resolve(),
        runs_root=args.runs.resolve(),
        seeds=1 if args.scale == "tiny" else args.seeds,
        dry_run=args.dry_run,
        max_parallel=args.max_parallel,
        train=not args.no_train,
    )
    command = f"python experiments/reproduce.py {args.target} --scale {args.scale}"
    if args.seeds is not None:
        command += f" --seeds {args.seeds}"
    if args.no_train:
        command += " --no-train"
    reference = yaml.safe_load(PAPER_REFERENCE.read_text())
    ctx = Context(study, reference, command)
    status = run_target(args.target, ctx)
    for path in ctx.written:
        print(f"wrote {shown(path)}")
    return status
