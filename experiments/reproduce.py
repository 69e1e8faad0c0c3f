"""One command per result of the paper: ``python experiments/reproduce.py TARGET --scale S``.

Targets: table1 ... table5, fig3 ... fig11, appendix-b, appendix-c, appendix-d, estimators,
budget; ``all`` makes every one of them and the report, ``list`` names them. Scales:
``cpu`` (the CPU-scale study, the default), ``paper`` (the paper's recipe, SLURM job
arrays) and ``tiny`` (the same targets on synthetic images in about a minute, to check the
pipeline). Missing runs are trained first (a second call skips the finished ones and
resumes the interrupted ones); tables go to ``results/tables/``, figures to
``results/figures/``::

    python experiments/reproduce.py table1 --scale cpu --dry-run   # what would run
    python experiments/reproduce.py table1 --scale cpu --seeds 1   # seed 0 only
    python experiments/reproduce.py all --scale tiny

The work is done by ``experiments/targets.py`` (see its docstring); paths in the grid
files are relative to the repository root, where this script runs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script from anywhere: import the checkout
    sys.path.insert(0, str(REPO))

from experiments.targets import main  # noqa: E402

if __name__ == "__main__":
    os.chdir(REPO)
    sys.exit(main())
