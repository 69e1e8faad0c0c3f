"""Appendix D: bias of log-mean-exp, Jensen and Durbin-Koopman estimators of log E_phi p.

Claims: with K samples phi_k ~ p(phi), the log of the Monte Carlo mean (Eq. 19)
underestimates log I = log E_phi p(y | x, phi) by about Var[p] / (2 K I^2) (an O(1/K) bias);
the Durbin-Koopman correction (Eq. 25-27) removes that leading term (bias O(1/K^2)); and in
expectation Jensen (Eq. 22) <= log-mean-exp <= log I.

Evidence: two toy likelihoods whose mean I is known exactly, simulated many times for
K = 1, 2, 4, 8, 16 (Durbin-Koopman from K = 2), all estimators on the same draws:

- ``beta``: p(y | x, phi) = phi with phi ~ Beta(2, 3), so I = 2/5 and Var[p] = 1/25;
- ``mollified_classifier``: a 10-class softmax whose true-class logit margin fades with
  the mollification level t ~ Beta(1, 2) (the training distribution of t),
  p(t) = 1 / (1 + 9 exp(-4 (1 - t))); I and the central moments of p by quadrature.

Theory to compare with. With v = Var[p]/I^2, mu3 = E[(p - I)^3] and
delta = I_K / I - 1 (E delta = 0, E delta^2 = v/K, E delta^3 = mu3/(K^2 I^3),
E delta^4 = 3 v^2/K^2 + O(K^-3)), expanding log(1 + delta) and the correction
s^2 / (2 K I_K^2) (using Cov(s^2, I_K) = mu3/K) gives

    E[log-mean-exp] - log I   = -v/(2K) + (mu3/(3 I^3) - 3 v^2/4) / K^2 + O(K^-3),
    E[Durbin-Koopman] - log I = (3 v^2/4 - 2 mu3/(3 I^3)) / K^2 + O(K^-3):

the correction cancels the O(1/K) term and leaves an O(1/K^2) one, it does not make the
estimator unbiased. The conclusions fit log |bias| against log K over K = 4, 8, 16 (slope
-1 for log-mean-exp; for Durbin-Koopman significantly steeper than -1, 3 standard errors,
as the O(K^-3) term still flattens it in the beta toy) and compare with these coefficients.

Variance reduction: each replication's error is taken minus the control variate
delta - delta^2/2 + v/(2K), the second-order Taylor polynomial of log(1 + delta) shifted to
mean exactly zero (E delta = 0 and E delta^2 = Var[I_K]/I^2 = v/K hold exactly, with I and
Var[p] known). It removes the terms that dominate the Monte Carlo noise of log-mean-exp
and Durbin-Koopman; the bias estimates stay unbiased, and their reported standard errors
are 6-100 times smaller than those of the plain means (less so for Jensen).

Run: ``python paper_appendix/appendix_d_bias.py [--fast] [--out DIR]``. Writes
``appendix_d_bias.json``, ``.md`` and ``appendix_d_bias.png`` (|bias| against K, log-log).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from _common import number_table, parse_args, write_outputs
from scipy import integrate, special, stats

from probmoll.likelihoods import durbin_koopman, jensen, log_mean_exp
from probmoll.utils.figures import new_figure, save_figure

COPIES = (1, 2, 4, 8, 16)
# The slopes are fitted where the leading term dominates: at K = 2 the O(K^-3) terms are
# still comparable to Durbin-Koopman's O(K^-2) one (in the beta toy its bias changes sign).
SLOPE_COPIES = (4, 8, 16)
ESTIMATORS = {"jensen": jensen, "log_mean_exp": log_mean_exp, "durbin_koopman": durbin_koopman}


def classifier_likelihood(t):
    return 1 / (1 + 9 * np.exp(-4 * (1 - t)))


def make_toys():
    """Each toy: a sampler of log p, shape (K, M); exact I, Var[p], E[(p - I)^3], E[log p]."""
    beta = stats.beta(2, 3)
    t_prior = stats.beta(1, 2)

    def expect(function):
        return integrate.quad(lambda t: function(t) * t_prior.pdf(t), 0, 1, epsrel=1e-12)[0]

    mean = expect(classifier_likelihood)
    _, beta_variance, beta_skewness = (float(value) for value in beta.stats(moments="mvs"))
    return {
        "beta": {
            "sample_log_p": lambda shape, rng: np.log(beta.rvs(size=shape, random_state=rng)),
            "mean": beta.mean(),
            "variance": beta_variance,
            "third_central_moment": beta_skewness * beta_variance**1.5,
            "mean_log": special.digamma(2) - special.digamma(5),
        },
        "mollified_classifier": {
            "sample_log_p": lambda shape, rng: np.log(
                classifier_likelihood(t_prior.rvs(size=shape, random_state=rng))
            ),
            "mean": mean,
            "variance": expect(lambda t: (classifier_likelihood(t) - mean) ** 2),
            "third_central_moment": expect(lambda t: (classifier_likelihood(t) - mean) ** 3),
            "mean_log": expect(lambda t: math.log(classifier_likelihood(t))),
        },
    }


def bias_coefficients(toy: dict) -> dict:
    """Coefficients of the bias expansions in the module docstring."""
    relative_variance = toy["variance"] / toy["mean"] ** 2
    relative_third = toy["third_central_moment"] / toy["mean"] ** 3
    return {
        # log-mean-exp: -v/2 / K + lme_second_order / K^2
        "leading_bias_coefficient": relative_variance / 2,
        "log_mean_exp_second_order": relative_third / 3 - 3 * relative_variance**2 / 4,
        # Durbin-Koopman: durbin_koopman_second_order / K^2
        "durbin_koopman_second_order": 3 * relative_variance**2 / 4 - 2 * relative_third / 3,
    }


def simulate(
    toy: dict, copies: int, draws: int, rng: np.random.Generator, chunk: int = 250_000
) -> dict:
    """Mean and standard error of each estimator minus log I over ``draws`` replications.

    Each replication's error is taken minus the zero-mean control variate of the module
    docstring, delta - delta^2/2 + v/(2K) with delta = I_K / I - 1.
    """
    log_i = math.log(toy["mean"])
    control_mean = toy["variance"] / (2 * toy["mean"] ** 2 * copies)  # E[delta^2/2] = v/(2K)
    names = [name for name in ESTIMATORS if not (name == "durbin_koopman" and copies < 2)]
    sums = {name: [0.0, 0.0] for name in names}
    done = 0
    while done < draws:
        size = min(chunk, draws - done)
        log_p = torch.from_numpy(toy["sample_log_p"]((copies, size), rng))
        delta = torch.expm1(log_mean_exp(log_p) - log_i)
        control = delta - delta.square() / 2 + control_mean
        for name in names:
            error = ESTIMATORS[name](log_p) - log_i - control
            sums[name][0] += error.sum().item()
            sums[name][1] += error.square().sum().item()
        done += size
    result = {}
    for name, (total, total_sq) in sums.items():
        bias = total / draws
        variance = max(total_sq / draws - bias**2, 0.0)
        result[name] = {"bias": bias, "standard_error": math.sqrt(variance / (draws - 1))}
    return result


def log_log_slope(rows: list[dict], name: str) -> dict:
    """Weighted least-squares slope of log |bias| on log K over SLOPE_COPIES, with its s.e.

    The standard error of log |bias| is s.e. / |bias| (delta method).
    """
    points = [row for row in rows if row["K"] in SLOPE_COPIES]
    log_k = np.log([row["K"] for row in points])
    log_bias = np.log([abs(row[name]["bias"]) for row in points])
    sigma = np.array([row[name]["standard_error"] / abs(row[name]["bias"]) for row in points])
    # cov="unscaled": the weights are 1 / sigma with sigma known, not fitted from the residuals.
    coefficients, covariance = np.polyfit(log_k, log_bias, 1, w=1 / sigma, cov="unscaled")
    return {"slope": float(coefficients[0]), "standard_error": float(math.sqrt(covariance[0, 0]))}


def plot(results: dict, path) -> None:
    figure = new_figure(figsize=(5 * len(results), 4))
    axes = figure.subplots(1, len(results), squeeze=False)
    for axis, (toy_name, toy) in zip(axes[0], results.items(), strict=True):
        for name, marker in (("log_mean_exp", "o"), ("durbin_koopman", "s"), ("jensen", "^")):
            ks = [row["K"] for row in toy["rows"] if name in row]
            biases = [abs(row[name]["bias"]) for row in toy["rows"] if name in row]
            errors = [row[name]["standard_error"] for row in toy["rows"] if name in row]
            axis.errorbar(ks, biases, yerr=errors, marker=marker, label=name, capsize=3)
        coefficients = toy["coefficients"]
        ks = np.array(COPIES, dtype=float)
        axis.plot(
            ks, coefficients["leading_bias_coefficient"] / ks, "k--", lw=1, label="Var[p]/(2 K I^2)"
        )
        axis.plot(
            ks[1:],
            abs(coefficients["durbin_koopman_second_order"]) / ks[1:] ** 2,
            "k:",
            lw=1,
            label="DK theory |c2| / K^2",
        )
        axis.set(
            xscale="log",
            yscale="log",
            xlabel="K (copies per example)",
            ylabel="|E[estimate] - log I|",
            title=toy_name,
        )
        axis.set_xticks(COPIES, [str(k) for k in COPIES])
        axis.legend(fontsize=7, loc="lower left")
    figure.tight_layout()
    save_figure(figure, path, dpi=120)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(__doc__.splitlines()[0], argv)
    rng = np.random.default_rng(args.seed)
    draws = 200_000 if args.fast else 2_000_000
    results, markdown = {}, "# Appendix D: bias of the estimators of log E_phi p\n"
    for toy_name, toy in make_toys().items():
        coefficients = bias_coefficients(toy)
        leading = coefficients["leading_bias_coefficient"]
        rows = []
        for copies in COPIES:
            row = {
                "K": copies,
                "theory_log_mean_exp_bias": -leading / copies,
                "exact_jensen_bias": toy["mean_log"] - math.log(toy["mean"]),
            }
            if copies >= 2:
                row["theory_durbin_koopman_bias"] = (
                    coefficients["durbin_koopman_second_order"] / copies**2
                )
            row.update(simulate(toy, copies, draws, rng))
            rows.append(row)
        results[toy_name] = {
            "log_I": math.log(toy["mean"]),
            "coefficients": coefficients,
            "rows": rows,
        }
        table = []
        for row in rows:
            dk = row.get("durbin_koopman")
            table.append(
                [
                    row["K"],
                    row["jensen"]["bias"],
                    row["jensen"]["standard_error"],
                    row["exact_jensen_bias"],
                    row["log_mean_exp"]["bias"],
                    row["log_mean_exp"]["standard_error"],
                    row["theory_log_mean_exp_bias"],
                    dk["bias"] if dk else "-",
                    dk["standard_error"] if dk else "-",
                    f"{dk['bias'] / dk['standard_error']:.1f}" if dk else "-",
                    row["theory_durbin_koopman_bias"] if dk else "-",
                ]
            )
        markdown += (
            f"\n## {toy_name} (log I = {math.log(toy['mean']):.5f}, "
            f"Var[p]/(2 I^2) = {leading:.5f}, Durbin-Koopman c2 = "
            f"{coefficients['durbin_koopman_second_order']:.5f}, {draws} draws per K)\n\n"
            + number_table(
                [
                    "K",
                    "Jensen bias",
                    "s.e.",
                    "E log p - log I",
                    "log-mean-exp bias",
                    "s.e.",
                    "-Var/(2 K I^2)",
                    "Durbin-Koopman bias",
                    "s.e.",
                    "bias / s.e.",
                    "c2 / K^2",
                ],
                table,
            )
        )
    results["conclusions"] = conclusions(results)
    results["draws_per_K"] = draws
    plot({k: v for k, v in results.items() if k in make_toys()}, args.out / "appendix_d_bias.png")
    write_outputs(args.out, "appendix_d_bias", results, markdown)
    return results


def conclusions(results: dict) -> dict:
    """The claims, checked on the simulated numbers (allowing 4 standard errors).

    Keys ending in ``_per_toy`` hold numbers (beta, mollified_classifier); the others are
    the verdicts.
    """
    toys = [results[name] for name in ("beta", "mollified_classifier")]
    ordering, dk_smaller, lme_matches_theory, jensen_exact = True, True, True, True
    dk_matches_theory = True
    lme_slopes, dk_slopes, dk_significant = [], [], []
    for toy in toys:
        for row in toy["rows"]:
            jensen_bias, lme = row["jensen"]["bias"], row["log_mean_exp"]
            slack = 4 * lme["standard_error"]
            # Jensen is unbiased for E log p, whatever K.
            if abs(jensen_bias - row["exact_jensen_bias"]) > 4 * row["jensen"]["standard_error"]:
                jensen_exact = False
            # Jensen <= log-mean-exp <= log I in expectation (strict for K > 1).
            if row["K"] > 1 and not (jensen_bias < lme["bias"] < slack):
                ordering = False
            # O(1/K) term: for larger K the bias approaches -Var/(2 K I^2); the O(1/K^2)
            # remainder is within 10% of it from K = 8 on in both toys.
            theory = row["theory_log_mean_exp_bias"]
            if row["K"] >= 8 and abs(lme["bias"] - theory) > 0.1 * abs(theory) + slack:
                lme_matches_theory = False
            if row["K"] >= 2:
                dk = row["durbin_koopman"]
                dk_slack = 4 * dk["standard_error"]
                if abs(dk["bias"]) > 0.5 * abs(lme["bias"]) + dk_slack:
                    dk_smaller = False
                # What is left is c2 / K^2; the O(K^-3) remainder is within 30% from K = 8.
                dk_theory = row["theory_durbin_koopman_bias"]
                if row["K"] >= 8 and abs(dk["bias"] - dk_theory) > 0.3 * abs(dk_theory) + dk_slack:
                    dk_matches_theory = False
        lme_slopes.append(log_log_slope(toy["rows"], "log_mean_exp"))
        dk_slopes.append(log_log_slope(toy["rows"], "durbin_koopman"))
        dk_significant.append(
            [
                row["K"]
                for row in toy["rows"]
                if "durbin_koopman" in row
                and abs(row["durbin_koopman"]["bias"]) > 4 * row["durbin_koopman"]["standard_error"]
            ]
        )

    return {
        "jensen_unbiased_for_E_log_p": jensen_exact,
        "jensen_below_log_mean_exp_below_log_I": ordering,
        "log_mean_exp_bias_is_minus_var_over_2K_I2": lme_matches_theory,
        "log_mean_exp_log_log_slope_per_toy": lme_slopes,
        "log_mean_exp_bias_is_order_1_over_K": all(
            abs(fit["slope"] + 1) < 0.1 + 3 * fit["standard_error"] for fit in lme_slopes
        ),
        "durbin_koopman_log_log_slope_per_toy": dk_slopes,
        # Significantly (3 s.e.) steeper than the -1 of an O(1/K) term: the O(1/K) term is
        # gone. Not "near -2": in the beta toy the O(K^-3) and higher terms are still ~20%
        # of the O(K^-2) one at K = 8 (bias 3.0e-4 against c2/K^2 = 3.6e-4 in the full run),
        # so the fitted slope over K = 4..16 is shallower (-1.6); the c2/K^2 check below
        # covers the O(1/K^2) coefficient.
        "durbin_koopman_bias_falls_faster_than_1_over_K": all(
            fit["slope"] + 3 * fit["standard_error"] < -1 for fit in dk_slopes
        ),
        "durbin_koopman_bias_matches_c2_over_K2": dk_matches_theory,
        "durbin_koopman_bias_at_most_half_of_log_mean_exp": dk_smaller,
        "durbin_koopman_bias_nonzero_at_4_se_K_per_toy": dk_significant,
    }


if __name__ == "__main__":
    main()
