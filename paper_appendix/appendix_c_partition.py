"""Appendix C: the closed-form normalizer Z of the cross-entropy likelihood equals its integral.

Claim: for smoothed labels y(a, e_j) = (1 - a) e_j + a/C, a in [0, 1],

    Z = sum_j int_0^1 prod_i f_i^{y(a, e_j)_i} da = sum_j (K - f_j) / (log K - log f_j),

K the geometric mean of f. Evidence: both the printed closed form, evaluated directly as
written (it is defined wherever no f_j equals K, which holds for these random f), and
``probmoll.likelihoods.log_partition`` (the same Z computed in log space) against direct
numerical integration (scipy.integrate.quad) of the definition, for random predictions
f over C = 2, 3, 10, 100 classes and logit scales from near-uniform to peaked. Also:

- the derivation needs a = gamma_t (docs/paper-readings.md, reading 2); with
  a = gamma_t - 1 (as printed) a in [-1, 0], the labels leave the simplex and the
  integral is a different number;
- the printed formula is 0/0 (NaN) at uniform f, where log_partition gives log Z = 0.

Run: ``python paper_appendix/appendix_c_partition.py [--fast] [--out DIR]``.
Writes ``appendix_c_partition.json`` and ``.md``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from _common import number_table, parse_args, write_outputs
from scipy import integrate

from probmoll.likelihoods import log_partition


def smoothed_label(amount: float, index: int, num_classes: int) -> np.ndarray:
    label = np.full(num_classes, amount / num_classes)
    label[index] += 1 - amount
    return label


def partition_by_quadrature(probs: np.ndarray, lower: float = 0.0, upper: float = 1.0) -> float:
    """Z from its definition, integrating the smoothing amount over [lower, upper]."""
    log_probs = np.log(probs)
    return sum(
        integrate.quad(
            lambda a, j=j: math.exp(smoothed_label(a, j, len(probs)) @ log_probs),
            lower,
            upper,
            epsabs=0,
            epsrel=1e-12,
        )[0]
        for j in range(len(probs))
    )


def printed_closed_form(probs: np.ndarray) -> float:
    """Appendix C's last line as printed, evaluated naively."""
    geometric_mean = np.exp(np.log(probs).mean())
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.sum((geometric_mean - probs) / (np.log(geometric_mean) - np.log(probs))))


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(__doc__.splitlines()[0], argv)
    rng = np.random.default_rng(args.seed)
    draws = 3 if args.fast else 20
    rows, cases = [], []
    for num_classes in (2, 3, 10, 100):
        for logit_scale in (0.1, 1.0, 5.0):
            errors, printed_errors = [], []
            for _ in range(draws):
                logits = rng.normal(size=num_classes) * logit_scale
                probs = np.exp(logits - np.logaddexp.reduce(logits))
                closed = log_partition(torch.from_numpy(logits)).item()
                printed = math.log(printed_closed_form(probs))
                numeric = math.log(partition_by_quadrature(probs))
                errors.append(abs(closed - numeric))
                printed_errors.append(abs(printed - numeric))
                cases.append(
                    {
                        "C": num_classes,
                        "logit_scale": logit_scale,
                        "log_Z_closed": closed,
                        "log_Z_printed": printed,
                        "log_Z_quad": numeric,
                        # Closest approach of a term to the 0/0 point f_j = K.
                        "min_abs_log_K_minus_log_f": float(
                            np.abs(np.log(probs).mean() - np.log(probs)).min()
                        ),
                    }
                )
            rows.append([num_classes, logit_scale, draws, max(printed_errors), max(errors)])

    # Erratum 2: with a = gamma - 1 the integration range is [-1, 0].
    probs = np.exp(rng.normal(size=4))
    probs /= probs.sum()
    erratum = {
        "Z_closed_form": math.exp(log_partition(torch.from_numpy(np.log(probs))).item()),
        "Z_quad_a_in_0_1": partition_by_quadrature(probs),
        "Z_quad_a_in_minus1_0": partition_by_quadrature(probs, -1.0, 0.0),
        "min_label_entry_at_a_minus_0.7": float(smoothed_label(-0.7, 0, 4).min()),
    }
    uniform = {
        "printed_formula_at_uniform": printed_closed_form(np.full(5, 0.2)),
        "log_partition_at_uniform": log_partition(torch.zeros(5, dtype=torch.float64)).item(),
    }
    max_error = max(row[-1] for row in rows)
    max_printed_error = max(row[-2] for row in rows)
    results = {
        "claim": "closed-form log Z (Appendix C) equals log of the integral definition",
        "max_abs_error_log_Z": max_error,
        "max_abs_error_log_Z_printed": max_printed_error,
        "agrees": max_error < 1e-8,
        "printed_form_agrees": max_printed_error < 1e-8,
        "table": [
            dict(
                zip(
                    ["C", "logit_scale", "draws", "max_abs_error_printed", "max_abs_error"],
                    row,
                    strict=True,
                )
            )
            for row in rows
        ],
        "cases": cases,
        "erratum_a_equals_gamma": erratum,
        "uniform_predictions": {k: (None if math.isnan(v) else v) for k, v in uniform.items()},
    }
    markdown = (
        "# Appendix C: closed-form log Z vs quadrature\n\n"
        + "Printed: `log sum_j (K - f_j)/(log K - log f_j)` evaluated as written (no f_j = K "
        "occurs for these random f); log_partition: the log-space evaluation used in training. "
        "Both against `log` of the quadrature of Z's definition.\n\n"
        + number_table(
            [
                "C",
                "logit scale",
                "draws",
                "max |log Z printed - log Z quad|",
                "max |log_partition - log Z quad|",
            ],
            rows,
        )
        + "\n## Erratum 2 (a = gamma_t, not gamma_t - 1)\n\n"
        + number_table(["quantity", "value"], [[k, v] for k, v in erratum.items()])
        + "\n## Uniform predictions (the 0/0 pitfall)\n\n"
        + number_table(["quantity", "value"], [[k, v] for k, v in uniform.items()])
    )
    write_outputs(args.out, "appendix_c_partition", results, markdown)
    return results


if __name__ == "__main__":
    main()
