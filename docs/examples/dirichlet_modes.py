"""Dirichlet densities of one-hot, tempered and smoothed labels on the 3-class simplex.

The cross-entropy with label y is, up to a constant, log Dir(f | 1 + y) (Eq. 10-11), a
density over the predictions f. Its mode is where training pushes the prediction. For
3 classes, true class 1 and gamma in {0, 0.25, 0.5, 0.75}, this script evaluates
``probmoll.likelihoods.dirichlet_log_likelihood`` on a grid over the whole simplex
(boundary included) for tempered labels (1 - gamma) e_1 (Eq. 7, ``label_temper``) and
smoothed labels (1 - gamma) e_1 + gamma / 3 (Eq. 8, ``label_smooth``), and compares

- the grid's argmax with the closed-form mode (alpha_c - 1) / (sum alpha - C),
  alpha = 1 + y (valid as every alpha_c >= 1), and with ``dirichlet_mode``;
- the density at the mode with its closed form 1 / B(1 + y), B the multivariate Beta
  function: for tempered labels (3 - gamma)(2 - gamma), falling from 6 to the uniform
  density 2 as gamma grows -- tempering flattens the density and keeps its mode.

Run: ``python docs/examples/dirichlet_modes.py [--fast] [--out DIR]``. Writes
``dirichlet_modes.png`` and ``dirichlet_modes.json``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from _shared import draw_simplex, mark, parse_args, print_table, simplex_grid, write_outputs
from scipy import special

from probmoll.likelihoods import dirichlet_log_likelihood, dirichlet_mode
from probmoll.mollify import label_smooth, label_temper
from probmoll.utils.figures import new_figure

NUM_CLASSES = 3
GAMMAS = (0.0, 0.25, 0.5, 0.75)
FORMS = {"temper": label_temper, "smooth": label_smooth}  # Eq. 7 and Eq. 8
# log f at a vertex of the simplex, where some f_c = 0: a floor keeps the logits finite
# (a class the label gives no weight contributes 0 log 0 = 0 whatever the floor).
LOG_FLOOR = -60.0


def targets(form: str, gamma: float) -> torch.Tensor:
    """The label of true class 1 (index 0) under ``form`` at level ``gamma``, ``(3,)``."""
    level = torch.tensor([gamma], dtype=torch.float64)
    return FORMS[form](torch.tensor([0]), level, NUM_CLASSES)[0]


def log_density(points: np.ndarray, label: torch.Tensor) -> np.ndarray:
    """log Dir(f | 1 + y) at barycentric ``points`` (N, 3)."""
    logits = torch.from_numpy(np.log(np.clip(points, math.exp(LOG_FLOOR), None)))
    return dirichlet_log_likelihood(logits, label.expand(len(points), -1)).numpy()


def closed_form_mode(label: np.ndarray) -> np.ndarray:
    alpha = 1 + label
    return (alpha - 1) / (alpha.sum() - NUM_CLASSES)


def closed_form_peak(label: np.ndarray) -> float:
    """Density at the mode, 1 / B(1 + y) (the mode's f^y is 1 for a vertex mode only)."""
    alpha = 1 + label
    mode = closed_form_mode(label)
    log_beta = special.gammaln(alpha).sum() - special.gammaln(alpha.sum())
    return float(np.exp(special.xlogy(label, mode).sum() - log_beta))


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(__doc__.splitlines()[0], argv)
    # A multiple of 12 puts every mode of these labels on a grid point.
    resolution = 48 if args.fast else 240
    points = simplex_grid(resolution, boundary=True)
    centre = np.full((1, NUM_CLASSES), 1 / NUM_CLASSES)

    rows, panels = [], []
    for form in FORMS:
        for gamma in GAMMAS:
            label = targets(form, gamma)
            label_np = label.numpy()
            density = log_density(points, label)
            grid_mode = points[density.argmax()]
            closed = closed_form_mode(label_np)
            peak = float(np.exp(density.max()))
            rows.append(
                {
                    "form": form,
                    "gamma": gamma,
                    "label": label_np.tolist(),
                    "mode_grid": grid_mode.tolist(),
                    "mode_closed_form": closed.tolist(),
                    "mode_dirichlet_mode": dirichlet_mode(label).tolist(),
                    "mode_error_grid": float(np.abs(grid_mode - closed).max()),
                    "peak_density": peak,
                    "peak_density_closed_form": closed_form_peak(label_np),
                    "log_density_peak_minus_centre": float(
                        density.max() - log_density(centre, label)[0]
                    ),
                }
            )
            panels.append((form, gamma, np.exp(density), grid_mode, closed))

    figure = new_figure(figsize=(3.2 * len(GAMMAS), 6.4), layout="constrained")
    axes = figure.subplots(len(FORMS), len(GAMMAS))
    top = max(panel[2].max() for panel in panels)
    levels = np.linspace(0, top, 21)
    for axis, (form, gamma, density, grid_mode, closed) in zip(axes.flat, panels, strict=True):
        name = "one-hot" if gamma == 0 else f"{'tempered' if form == 'temper' else 'smoothed'}"
        filled = draw_simplex(
            axis, points, density, f"{name}, γ = {gamma:g}", levels=levels, cmap="viridis"
        )
        mark(axis, closed, "r*", markersize=13, label="closed-form mode")
        mark(axis, grid_mode, "wx", markersize=8, label="grid argmax")
    axes[0, 0].legend(loc="upper left", fontsize=7)
    figure.colorbar(filled, ax=axes, shrink=0.7, label="Dir(f | 1 + y)")

    results = {
        "grid_resolution": resolution,
        "rows": rows,
        "max_mode_error_grid": max(row["mode_error_grid"] for row in rows),
        "max_mode_error_dirichlet_mode": max(
            float(np.abs(np.subtract(row["mode_dirichlet_mode"], row["mode_closed_form"])).max())
            for row in rows
        ),
    }
    print_table(
        ["form", "gamma", "grid mode", "closed-form mode", "peak", "1 / B(1 + y) at the mode"],
        [
            [
                row["form"],
                row["gamma"],
                np.round(row["mode_grid"], 4).tolist(),
                np.round(row["mode_closed_form"], 4).tolist(),
                row["peak_density"],
                row["peak_density_closed_form"],
            ]
            for row in rows
        ],
    )
    write_outputs(args.out, "dirichlet_modes", results, {"dirichlet_modes": figure})
    return results


if __name__ == "__main__":
    main()
