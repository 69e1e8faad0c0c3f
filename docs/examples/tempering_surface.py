"""Tempering flattens the likelihood surface and keeps its mode; smoothing moves the mode.

What a classifier's logits see. For 3 classes and true class 1, the log-likelihood of one
example as a function of its logits, for labels at level gamma in {0, 0.25, 0.5, 0.75}:

- tempered labels (Eq. 7): the tempered categorical of Eq. 9,
  ``TemperedCategorical(logits, power=1 - gamma).log_prob(e_1)`` = (1 - gamma) log f_1.
  The whole surface is the one-hot surface times 1 - gamma: flatter, with the same
  supremum at f_1 -> 1 (the margin z -> infinity);
- smoothed labels (Eq. 8): ``SoftLabelCategorical(logits).log_prob(y_LS)``. On the slice
  logits = (z, 0, 0) its maximum is at the finite margin z* = log(y_1 / y_2) =
  log((3 - 2 gamma) / gamma), where f = y_LS;
- the normalized likelihood of Appendix C, ``NormalizedSoftLabel(logits).log_prob(y_LS)``,
  which subtracts log Z(f) (Z <= 1, largest for uniform f): it moves the maximum back
  towards the vertex.

The maxima are found numerically (scipy's bounded scalar minimiser) and compared with the
closed form. A second row draws the surfaces over the logit plane (z_2 - z_1, z_3 - z_1).

Run: ``python docs/examples/tempering_surface.py [--fast] [--out DIR]``. Writes
``tempering_surface.png`` and ``tempering_surface.json``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from _shared import parse_args, print_table, write_outputs
from scipy import optimize

from probmoll.likelihoods import (
    NormalizedSoftLabel,
    SoftLabelCategorical,
    TemperedCategorical,
    soft_label_log_likelihood,
)
from probmoll.mollify import label_smooth, label_temper
from probmoll.utils.figures import new_figure

NUM_CLASSES = 3
GAMMAS = (0.0, 0.25, 0.5, 0.75)
MARGINS = (-4.0, 10.0)  # range of the true-class margin z drawn
ONE_HOT = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)


def margin_logits(z: np.ndarray | float) -> torch.Tensor:
    """Logits (z, 0, 0), shape ``(N, 3)``."""
    z = torch.as_tensor(np.atleast_1d(z), dtype=torch.float64)
    return torch.stack([z, torch.zeros_like(z), torch.zeros_like(z)], -1)


def smoothed(gamma: float) -> torch.Tensor:
    return label_smooth(torch.tensor([0]), torch.tensor([gamma]).double(), NUM_CLASSES)[0]


def surfaces(logits: torch.Tensor, gamma: float) -> dict[str, torch.Tensor]:
    """The three log-likelihoods at ``logits`` (..., 3) for level ``gamma``."""
    label = smoothed(gamma).expand(logits.shape)
    return {
        "tempered": TemperedCategorical(logits, 1 - gamma).log_prob(ONE_HOT.expand(logits.shape)),
        "smoothed": SoftLabelCategorical(logits).log_prob(label),
        "normalized": NormalizedSoftLabel(logits).log_prob(label),
    }


def numerical_argmax(form: str, gamma: float) -> float:
    """The margin z maximising ``form`` on the slice (z, 0, 0)."""
    result = optimize.minimize_scalar(
        lambda z: -surfaces(margin_logits(z), gamma)[form].item(),
        bounds=(-10.0, 30.0),
        method="bounded",
        options={"xatol": 1e-9},
    )
    return float(result.x)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(__doc__.splitlines()[0], argv)
    margins = np.linspace(*MARGINS, 141 if args.fast else 561)
    logits = margin_logits(margins)
    one_hot_curve = surfaces(logits, 0.0)["tempered"].numpy()

    rows, curves = [], {}
    for gamma in GAMMAS:
        values = {name: value.numpy() for name, value in surfaces(logits, gamma).items()}
        curves[gamma] = values
        tempered_targets = label_temper(torch.tensor([0]), torch.tensor([gamma]).double(), 3)
        row = {
            "gamma": gamma,
            # Eq. 9 through the distribution equals the soft-label form on Eq. 7's targets.
            "tempered_distribution_vs_form": float(
                np.abs(
                    values["tempered"] - soft_label_log_likelihood(logits, tempered_targets).numpy()
                ).max()
            ),
            # The tempered surface is the one-hot surface scaled by 1 - gamma.
            "tempered_scale_error": float(
                np.abs(values["tempered"] - (1 - gamma) * one_hot_curve).max()
            ),
            "tempered_increasing": bool(gamma == 1 or np.all(np.diff(values["tempered"]) > 0)),
        }
        if gamma > 0:
            label = smoothed(gamma).numpy()
            row["smoothed_argmax_closed_form"] = math.log(label[0] / label[1])
            row["smoothed_argmax_numerical"] = numerical_argmax("smoothed", gamma)
            row["normalized_argmax_numerical"] = numerical_argmax("normalized", gamma)
        rows.append(row)

    figure = new_figure(figsize=(12, 7.5), layout="constrained")
    top, bottom = figure.subfigures(2, 1, height_ratios=[1, 1.1])
    axes = top.subplots(1, 3, sharey=True)
    colours = dict(zip(GAMMAS, ("black", "tab:blue", "tab:orange", "tab:green"), strict=True))
    for axis, form in zip(axes, ("tempered", "smoothed", "normalized"), strict=True):
        for gamma, values in curves.items():
            axis.plot(margins, values[form], color=colours[gamma], label=f"γ = {gamma:g}")
            row = rows[GAMMAS.index(gamma)]
            if form != "tempered" and gamma > 0:
                peak = row[f"{form}_argmax_numerical"]
                axis.plot(
                    peak,
                    surfaces(margin_logits(peak), gamma)[form].item(),
                    "o",
                    color=colours[gamma],
                )
        if form == "smoothed":
            for gamma in GAMMAS[1:]:
                axis.axvline(
                    rows[GAMMAS.index(gamma)]["smoothed_argmax_closed_form"],
                    color=colours[gamma],
                    lw=0.8,
                    ls=":",
                )
        axis.set(xlabel="true-class margin z (logits z, 0, 0)", title=form, ylim=(-4.5, 1.0))
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("log-likelihood")
    axes[0].legend(fontsize=8)
    axes[1].text(0.02, 0.03, "dotted: z* = log((3 - 2γ)/γ)", transform=axes[1].transAxes)

    # The surface over the logit plane, z_1 = 0.
    side = np.linspace(-6, 3, 61 if args.fast else 181)
    second, third = np.meshgrid(side, side)
    plane = torch.from_numpy(np.stack([np.zeros_like(second), second, third], -1))
    panels = [
        ("one-hot", surfaces(plane, 0.0)["tempered"]),
        ("tempered, γ = 0.5", surfaces(plane, 0.5)["tempered"]),
        ("smoothed, γ = 0.5", surfaces(plane, 0.5)["smoothed"]),
    ]
    levels = np.linspace(-6, 0, 25)
    axes = bottom.subplots(1, 3, sharey=True)
    for axis, (title, values) in zip(axes, panels, strict=True):
        filled = axis.contourf(second, third, values.clamp(min=-6).numpy(), levels=levels)
        axis.set(xlabel="z_2 - z_1", title=title, aspect="equal")
    star = -rows[GAMMAS.index(0.5)]["smoothed_argmax_closed_form"]
    axes[2].plot(star, star, "r*", markersize=12, label="maximum, f = y_LS")
    axes[2].legend(fontsize=8, loc="upper right")
    axes[0].set_ylabel("z_3 - z_1")
    bottom.colorbar(filled, ax=axes, label="log-likelihood (clipped at -6)")

    results = {
        "rows": rows,
        "max_smoothed_argmax_error": max(
            abs(row["smoothed_argmax_numerical"] - row["smoothed_argmax_closed_form"])
            for row in rows
            if "smoothed_argmax_numerical" in row
        ),
        "max_tempered_scale_error": max(row["tempered_scale_error"] for row in rows),
    }
    print_table(
        [
            "gamma",
            "max abs(tempered - (1 - gamma) one-hot)",
            "z* smoothed",
            "closed form",
            "z* normalized",
        ],
        [
            [
                row["gamma"],
                row["tempered_scale_error"],
                row["smoothed_argmax_numerical"],
                row["smoothed_argmax_closed_form"],
                row["normalized_argmax_numerical"],
            ]
            for row in rows[1:]
        ],
    )
    write_outputs(args.out, "tempering_surface", results, {"tempering_surface": figure})
    return results


if __name__ == "__main__":
    main()
