"""The normalization constant Z(f) of the cross-entropy likelihood across the simplex.

Appendix C normalizes the soft-label likelihood over the smoothed labels
y(a, e_j) = (1 - a) e_j + a 1/C, a in [0, 1], j = 1..C:

    Z(f) = sum_j int_0^1 prod_i f_i^{y(a, e_j)_i} da = sum_j (K - f_j) / (log K - log f_j),

K the geometric mean of f (``a = gamma_t``: docs/paper-readings.md, reading 2). For
C = 3 this script maps ``probmoll.likelihoods.log_partition`` over the simplex, and checks

- that ``NormalizedSoftLabel(logits)`` is a proper density: its mass
  sum_j int_0^1 exp(log_prob(y(a, e_j))) da, by scipy's adaptive quadrature, is 1 at
  points spread over the simplex (so log Z equals the log of the integral);
- that Z <= 1 with Z = 1 only at uniform f, the centre;
- where the printed closed form loses its digits: evaluated as written
  (``paper_appendix/appendix_c_partition.py``'s ``printed_closed_form``) it is 0/0 at the
  centre and cancels catastrophically near it and near the lines f_j = K, while
  ``log_partition`` (log space, a series near 0) stays exact.

Run: ``python docs/examples/partition_function.py [--fast] [--out DIR]``. Writes
``partition_function.png`` and ``partition_function.json``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from _shared import (
    draw_simplex,
    mark,
    paper_appendix,
    parse_args,
    print_table,
    simplex_grid,
    write_outputs,
)
from scipy import integrate

from probmoll.likelihoods import NormalizedSoftLabel, log_partition
from probmoll.utils.figures import new_figure

NUM_CLASSES = 3


def smoothed_label(amount: float, index: int) -> torch.Tensor:
    label = torch.full((NUM_CLASSES,), amount / NUM_CLASSES, dtype=torch.float64)
    label[index] += 1 - amount
    return label


def normalized_mass(logits: torch.Tensor) -> float:
    """sum_j int_0^1 exp(log_prob(y(a, e_j))) da of ``NormalizedSoftLabel(logits)``."""
    distribution = NormalizedSoftLabel(logits, validate_args=True)
    return sum(
        integrate.quad(
            lambda a, j=j: math.exp(distribution.log_prob(smoothed_label(a, j)).item()),
            0.0,
            1.0,
            epsabs=0.0,
            epsrel=1e-12,
        )[0]
        for j in range(NUM_CLASSES)
    )


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(__doc__.splitlines()[0], argv)
    appendix_c = paper_appendix("appendix_c_partition")
    resolution = 30 if args.fast else 120  # a multiple of 3: the centre is a grid point
    points = simplex_grid(resolution, boundary=False)
    log_z = log_partition(torch.from_numpy(np.log(points))).numpy()

    # Quadrature at points spread over the simplex (every one for a coarse grid).
    rng = np.random.default_rng(args.seed)
    checked = rng.choice(len(points), size=8 if args.fast else 60, replace=False)
    masses = np.array([normalized_mass(torch.from_numpy(np.log(points[i]))) for i in checked])

    # Towards the centre along logits eps (1, 0.5, -1.5) (no logit at the mean, which would
    # make f_j = K and a term 0/0 at every eps): the printed form against quadrature
    # (appendix_c_partition's partition_by_quadrature of Z's definition), and log_partition.
    scales = np.logspace(-12, 0, 13 if args.fast else 49)
    ray = []
    for scale in scales:
        logits = scale * np.array([1.0, 0.5, -1.5])
        probs = np.exp(logits - np.logaddexp.reduce(logits))
        reference = math.log(appendix_c.partition_by_quadrature(probs))
        closed = log_partition(torch.from_numpy(logits)).item()
        with np.errstate(invalid="ignore", divide="ignore"):
            printed = math.log(appendix_c.printed_closed_form(probs))
        ray.append(
            {
                "logit_scale": float(scale),
                "log_z_quadrature": reference,
                "log_partition_error": abs(closed - reference),
                "printed_form_error": abs(printed - reference),
            }
        )
    centre = np.argmin(np.abs(points - 1 / NUM_CLASSES).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        printed = np.array([appendix_c.printed_closed_form(f) for f in points])
    # The printed form is 0/0 wherever some f_j equals K, i.e. f_j^2 = f_k f_l.
    undefined = np.flatnonzero(np.isnan(printed))

    figure = new_figure(figsize=(11, 4.6), layout="constrained")
    axes = figure.subplots(1, 2, width_ratios=[1.1, 1])
    filled = draw_simplex(axes[0], points, log_z, "log Z(f) (log_partition)", levels=20)
    for index in checked:
        mark(axes[0], points[index], "w.", markersize=6)
    for index in undefined:
        mark(axes[0], points[index], "cx", markersize=5)
    mark(axes[0], points[centre], "r*", markersize=12, label="Z = 1 (uniform f)")
    axes[0].plot([], [], "cx", label="printed form 0/0 (f_j = K)")
    axes[0].plot([], [], "w.", markeredgecolor="k", label="quadrature: mass 1")
    axes[0].legend(loc="upper left", fontsize=7)
    figure.colorbar(filled, ax=axes[0], shrink=0.8)
    floor = 1e-17  # an exact match drawn at the floor of the log axis
    for key, label, style in (
        ("printed_form_error", "printed closed form", "o-"),
        ("log_partition_error", "log_partition (log space)", "s-"),
    ):
        values = [row[key] for row in ray]
        axes[1].plot(
            scales,
            np.maximum(np.nan_to_num(values, nan=1.0), floor),
            style,
            label=label,
            markersize=4,
        )
    axes[1].set(
        xscale="log",
        yscale="log",
        xlabel="logit scale eps (logits eps (1, 0.5, -1.5))",
        ylabel="|log Z - log Z by quadrature|",
        title="towards uniform f, where the printed form is 0/0",
    )
    axes[1].grid(alpha=0.3)
    axes[1].legend(fontsize=8)

    results = {
        "grid_resolution": resolution,
        "quadrature_points": len(checked),
        "max_abs_log_mass": float(np.abs(np.log(masses)).max()),
        "max_log_z": float(log_z.max()),
        "log_z_at_centre": float(log_z[centre]),
        "argmax_log_z": points[log_z.argmax()].tolist(),
        "min_log_z_on_grid": float(log_z.min()),
        "printed_form_nan_at_centre": bool(math.isnan(printed[centre])),
        "printed_form_nan_points": points[undefined].tolist(),
        "ray": ray,
    }
    for key, value in results.items():
        if key not in ("ray", "printed_form_nan_points"):
            print(f"{key}: {value}")
    print_table(
        ["logit scale", "error of the printed form", "error of log_partition"],
        [
            [row["logit_scale"], row["printed_form_error"], row["log_partition_error"]]
            for row in ray
        ],
    )
    write_outputs(args.out, "partition_function", results, {"partition_function": figure})
    return results


if __name__ == "__main__":
    main()
