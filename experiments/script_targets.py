"""The targets of ``experiments/reproduce.py`` that run a script: Figs. 3, 4 and 11.

Each script runs in its own process from the repository root and writes into the
results folder: ``experiments/fig3_png_information.py`` to ``results/fig3/``,
``paper_appendix/fig4_dirichlet_modes.py`` and ``paper_appendix/appendix_b_dct_spectra.py``
to ``results/figures/``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from experiments.context import Context, TargetUnavailable, shown
from experiments.runs import REPO
from experiments.study import STUDY_GRIDS

__all__ = ["APPENDIX_B", "FIG4", "FIG3", "fig3", "fig4", "fig11", "run_script"]

APPENDIX_B = REPO / "paper_appendix" / "appendix_b_dct_spectra.py"
FIG4 = REPO / "paper_appendix" / "fig4_dirichlet_modes.py"
FIG3 = REPO / "experiments" / "fig3_png_information.py"


def _relative(word: Any, start: Path) -> str:
    """A path argument relative to ``start`` (the script's working folder), so that the
    command a script records names no folder of this machine; other words as they are."""
    return os.path.relpath(word, start) if isinstance(word, Path) else str(word)


def run_script(ctx: Context, argv: Sequence[Any], env: dict[str, str] | None = None) -> None:
    """``python ARGV`` from the repository root; a failure is recorded in the study."""
    command = [sys.executable, *(_relative(word, REPO) for word in argv)]
    print(" ".join(command), file=ctx.study.log, flush=True)
    if ctx.study.dry_run:
        return
    environment = dict(os.environ, PYTHONPATH=str(REPO), **(env or {}))
    result = subprocess.run(command, cwd=REPO, env=environment, check=False)
    if result.returncode != 0:
        ctx.study.failed.append(f"{argv[0]} exited {result.returncode}")


def _cifar10_jpeg_zip(ctx: Context) -> Path:
    """The CIFAR-10 JPEG copy the CPU grid trains on (its ``data.root``)."""
    stem = STUDY_GRIDS["table1"]["cpu"][1]
    root = ctx.study.spec(stem).points[0].config.data.root
    return (REPO / root).resolve()


def fig3(ctx: Context, target: str = "fig3") -> None:
    """Fig. 3: ``experiments/fig3_png_information.py`` on the scale's datasets (in this
    process: it is a module of experiments/)."""
    out = ctx.results_dir / "fig3"
    if ctx.scale == "tiny":
        runs = [["--data", "synthetic", "--images", "4", "--points", "5"]]
    elif ctx.scale == "paper":
        runs = [["--data", "tinyimagenet", "--images", "1000"]]
    else:
        jpeg = ["--data", "folder", "--label", "cifar10-jpeg", "--root", _cifar10_jpeg_zip(ctx)]
        runs = [["--data", "fashion-mnist", "--images", "500"], [*jpeg, "--images", "500"]]
    for argv in runs:
        words = [_relative(word, Path.cwd()) for word in [*argv, "--out", out]]
        print(f"python {shown(FIG3)} {' '.join(words)}", file=ctx.study.log, flush=True)
        if ctx.study.dry_run:
            continue
        from experiments.fig3_png_information import main

        try:
            main(words)
        except (OSError, ValueError, RuntimeError) as error:
            ctx.study.failed.append(f"{shown(FIG3)}: {error}")


def fig4(ctx: Context, target: str = "fig4") -> None:
    """Fig. 4: ``paper_appendix/fig4_dirichlet_modes.py`` (the same at every scale)."""
    fast = ["--fast"] if ctx.scale == "tiny" else []
    run_script(ctx, [FIG4, *fast, "--out", ctx.results_dir / "figures"])


def fig11(ctx: Context, target: str = "fig11") -> None:
    """Fig. 11 (Appendix B): ``paper_appendix/appendix_b_dct_spectra.py`` at the preset
    the CPU study evaluates at."""
    if ctx.scale == "paper":
        raise TargetUnavailable(
            f"{target}: {APPENDIX_B.name} measures Fashion-MNIST, the CIFAR-10 JPEG copy or "
            "synthetic images, not the paper's TinyImageNet; use --scale cpu"
        )
    if not APPENDIX_B.is_file():
        raise TargetUnavailable(f"{target}: {shown(APPENDIX_B)} is not in this checkout")
    out = ctx.results_dir / "figures"
    if ctx.scale == "tiny":
        # One corruption per category: glass blur's compilation alone takes ~7 s.
        names = ["--corruptions", "gaussian_noise", "defocus_blur", "fog", "contrast"]
        argv = [APPENDIX_B, "--data", "synthetic", "--images", "2", *names, "--out", out]
        run_script(ctx, argv)
        return
    stem = STUDY_GRIDS["table1"]["cpu"][0]
    preset = getattr(ctx.study.spec(stem).points[0].config.eval, "corruption_preset", None)
    preset = ["--preset", preset] if preset else []
    zip_folder = {"PROBMOLL_DATA": str(_cifar10_jpeg_zip(ctx).parent)}
    for data in ("fashion-mnist", "cifar10-jpeg"):
        argv = [APPENDIX_B, "--data", data, "--images", "500", "--out", out, *preset]
        run_script(ctx, argv, zip_folder if data == "cifar10-jpeg" else None)
