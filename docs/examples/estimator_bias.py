"""What each estimator of the augmented log-likelihood does as the number of copies K grows.

The per-example augmented log-likelihood is log I, I = E_phi p(y | x, phi) (Eq. 2), and
each estimator (``probmoll.likelihoods``) combines the log-likelihoods of K copies:

- ``jensen`` (Eq. 22) estimates E log p <= log I: its bias does not shrink with K;
- ``log_mean_exp`` (Eq. 19) is below log I by about Var[p] / (2 K I^2), an O(1/K) bias;
- ``durbin_koopman`` (Eq. 25-27) removes that O(1/K) term: what is left is O(1/K^2), and
  may be of either sign;
- ``geometric`` (Eq. 28) is ``jensen / T``: at T = 1 it is Jensen, at T != 1 it is a
  different objective whose expectation E log p / T stays away from log I for every K;
  ``geometric_per_copy`` (each copy a datum) grows like K E log p.

On the two toys of ``paper_appendix/appendix_d_bias.py`` (``make_toys``: p = phi with
phi ~ Beta(2, 3), I = 2/5; a 10-class softmax whose margin fades with the mollification
level t ~ Beta(1, 2), I by quadrature at relative precision 1e-12) and for K = 1 ... 64,
the biases of the first three come from that script's ``simulate`` (with its control
variate, standard errors 6-100 times smaller than plain means), the standard deviations
and the geometric estimators' expectations from plain replications.

Run: ``python docs/examples/estimator_bias.py [--fast] [--out DIR]``. Writes
``estimator_bias.png`` and ``estimator_bias.json``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from _shared import paper_appendix, parse_args, print_table, write_outputs

from probmoll.likelihoods import (
    durbin_koopman,
    geometric,
    geometric_per_copy,
    jensen,
    log_mean_exp,
)
from probmoll.utils.figures import new_figure

COPIES = (1, 2, 4, 8, 16, 32, 64)
ESTIMATORS = {
    "jensen": jensen,
    "log_mean_exp": log_mean_exp,
    "durbin_koopman": durbin_koopman,
    "geometric T=0.5": lambda logp: geometric(logp, 0.5),
    "geometric T=1": geometric,
    "geometric_per_copy": geometric_per_copy,
}
STYLES = {
    "jensen": "^-",
    "log_mean_exp": "o-",
    "durbin_koopman": "s-",
    "geometric T=0.5": "v--",
    "geometric T=1": "x:",
    "geometric_per_copy": "d--",
}


def replicate(toy: dict, copies: int, draws: int, rng: np.random.Generator) -> dict:
    """Mean and standard deviation of every estimator over ``draws`` plain replications."""
    log_p = torch.from_numpy(toy["sample_log_p"]((copies, draws), rng))
    summary = {}
    for name, estimator in ESTIMATORS.items():
        if name == "durbin_koopman" and copies < 2:
            continue
        values = estimator(log_p)
        summary[name] = {"mean": values.mean().item(), "std": values.std().item()}
    summary["geometric_T1_equals_jensen"] = bool(
        torch.equal(geometric(log_p), jensen(log_p))  # the same numbers, not just close
    )
    return summary


def study(toy: dict, draws: int, rng: np.random.Generator, appendix_d) -> dict:
    log_i = math.log(toy["mean"])
    coefficients = appendix_d.bias_coefficients(toy)
    rows = []
    for copies in COPIES:
        biases = appendix_d.simulate(toy, copies, draws, rng)
        plain = replicate(toy, copies, draws, rng)
        row = {"K": copies, "geometric_T1_equals_jensen": plain.pop("geometric_T1_equals_jensen")}
        for name, moments in plain.items():
            row[name] = {"std": moments["std"], "mean_minus_log_I": moments["mean"] - log_i}
            if name in biases:  # the control-variate estimate of the bias, and its s.e.
                row[name].update(biases[name])
        row["theory_log_mean_exp_bias"] = -coefficients["leading_bias_coefficient"] / copies
        row["exact_jensen_bias"] = toy["mean_log"] - log_i
        rows.append(row)
    return {"log_I": log_i, "coefficients": coefficients, "rows": rows}


def checks(results: dict) -> dict:
    """The behaviour the module docstring describes, on the simulated numbers (4 s.e.)."""
    ordering, dk_smaller, lme_theory, per_copy_linear, geometric_same = True, True, True, True, True
    for toy in results.values():
        for row in toy["rows"]:
            jensen_row, lme = row["jensen"], row["log_mean_exp"]
            slack = 4 * (jensen_row["standard_error"] + lme["standard_error"])
            if row["K"] > 1 and not jensen_row["bias"] < lme["bias"] < slack:
                ordering = False
            if row["K"] >= 4:
                dk = row["durbin_koopman"]
                if abs(dk["bias"]) > 0.5 * abs(lme["bias"]) + 4 * dk["standard_error"]:
                    dk_smaller = False
            theory = row["theory_log_mean_exp_bias"]
            if row["K"] >= 8 and abs(lme["bias"] - theory) > 0.1 * abs(theory) + slack:
                lme_theory = False
            # E[geometric_per_copy] = K E log p: its distance from log I grows with K.
            expected = row["K"] * (row["exact_jensen_bias"] + toy["log_I"]) - toy["log_I"]
            spread = 4 * row["geometric_per_copy"]["std"] / math.sqrt(toy["draws"])
            if abs(row["geometric_per_copy"]["mean_minus_log_I"] - expected) > spread:
                per_copy_linear = False
            geometric_same &= row["geometric_T1_equals_jensen"]
    return {
        "jensen_below_log_mean_exp_below_log_I": ordering,
        "durbin_koopman_bias_at_most_half_of_log_mean_exp_from_K4": dk_smaller,
        "log_mean_exp_bias_is_minus_var_over_2K_I2_from_K8": lme_theory,
        "geometric_per_copy_mean_is_K_E_log_p": per_copy_linear,
        "geometric_T1_is_jensen": geometric_same,
    }


def plot(results: dict):
    figure = new_figure(figsize=(13, 4 * len(results)), layout="constrained")
    axes = figure.subplots(len(results), 3, squeeze=False)
    for (bias_axis, std_axis, mean_axis), (toy_name, toy) in zip(
        axes, results.items(), strict=True
    ):
        rows = toy["rows"]
        for name in ("jensen", "log_mean_exp", "durbin_koopman"):
            ks = [row["K"] for row in rows if name in row]
            biases = np.array([row[name]["bias"] for row in rows if name in row])
            errors = [row[name]["standard_error"] for row in rows if name in row]
            signs = "".join("+" if bias > 0 else "−" for bias in biases)
            bias_axis.errorbar(
                ks,
                np.abs(biases),
                yerr=errors,
                fmt=STYLES[name],
                capsize=3,
                label=f"{name} (signs {signs})",
            )
        # The leading terms of the biases: log-mean-exp's O(1/K), Durbin-Koopman's O(1/K^2).
        ks = np.array(COPIES, dtype=float)
        coefficients = toy["coefficients"]
        for coefficient, power, style, label in (
            (coefficients["leading_bias_coefficient"], 1, "k--", "Var[p] / (2 K I²)"),
            (abs(coefficients["durbin_koopman_second_order"]), 2, "k:", "|c₂| / K²"),
        ):
            start = power - 1  # Durbin-Koopman needs K >= 2
            bias_axis.plot(ks[start:], coefficient / ks[start:] ** power, style, lw=1, label=label)
        bias_axis.set(
            xscale="log", yscale="log", ylabel="|E[estimate] − log I|", title=f"{toy_name}: bias"
        )
        for name in ESTIMATORS:
            ks = [row["K"] for row in rows if name in row]
            std_axis.plot(
                ks, [row[name]["std"] for row in rows if name in row], STYLES[name], label=name
            )
            mean_axis.plot(
                ks,
                [row[name]["mean_minus_log_I"] for row in rows if name in row],
                STYLES[name],
                label=name,
            )
        std_axis.set(
            xscale="log", yscale="log", ylabel="standard deviation", title=f"{toy_name}: spread"
        )
        mean_axis.axhline(0, color="k", lw=0.8)
        mean_axis.set_yscale("symlog", linthresh=0.1)
        mean_axis.set(
            xscale="log", ylabel="E[estimate] − log I", title=f"{toy_name}: what each converges to"
        )
        for axis in (bias_axis, std_axis, mean_axis):
            axis.set_xlabel("K (copies per example)")
            axis.set_xticks(COPIES, [str(k) for k in COPIES])
            axis.grid(alpha=0.3)
        bias_axis.legend(fontsize=7, loc="lower left")
        std_axis.legend(fontsize=7, loc="lower left")
    return figure


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(__doc__.splitlines()[0], argv)
    appendix_d = paper_appendix("appendix_d_bias")
    rng = np.random.default_rng(args.seed)
    draws = 20_000 if args.fast else 400_000
    results = {}
    for toy_name, toy in appendix_d.make_toys().items():
        results[toy_name] = study(toy, draws, rng, appendix_d) | {"draws": draws}
    conclusions = checks(results)
    figure = plot(results)
    for toy_name, toy in results.items():
        print(f"\n{toy_name}: log I = {toy['log_I']:.5f}")
        print_table(
            ["K", "Jensen bias", "log-mean-exp bias", "Durbin-Koopman bias", "s.e.", "-v/(2K)"],
            [
                [
                    row["K"],
                    row["jensen"]["bias"],
                    row["log_mean_exp"]["bias"],
                    row.get("durbin_koopman", {}).get("bias", "-"),
                    row.get("durbin_koopman", {}).get("standard_error", "-"),
                    row["theory_log_mean_exp_bias"],
                ]
                for row in toy["rows"]
            ],
        )
    for key, value in conclusions.items():
        print(f"{key}: {value}")
    results = {"toys": results, "conclusions": conclusions}
    write_outputs(args.out, "estimator_bias", results, {"estimator_bias": figure})
    return results


if __name__ == "__main__":
    main()
