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
  p(t) = 1 / (1 + 9 exp(-4 (1 - t))); I and Var[p] by quadrature.

Run: ``python paper_appendix/appendix_d_bias.py [--fast] [--out DIR]``. Writes
``appendix_d_bias.json``, ``.md`` and ``appendix_d_bias.png`` (|bias| against K, log-log).
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from _common import markdown_table, parse_args, save_figure, write_outputs  # noqa: E402
from scipy import integrate, special, stats  # noqa: E402

from probmoll.likelihoods import durbin_koopman, jensen, log_mean_exp  # noqa: E402

COPIES = (1, 2, 4, 8, 16)
ESTIMATORS = {"jensen": jensen, "log_mean_exp": log_mean_exp, "durbin_koopman": durbin_koopman}


def classifier_likelihood(t):
    return 1 / (1 + 9 * np.exp(-4 * (1 - t)))


def make_toys():
    """Each toy: a sampler of log p with shape (K, M), the exact I, Var[p] and E[log p]."""
    beta = stats.beta(2, 3)
    t_prior = stats.beta(1, 2)
    mean = integrate.quad(lambda t: classifier_likelihood(t) * t_prior.pdf(t), 0, 1, epsrel=1e-12)[
        0
    ]
    second = integrate.quad(
        lambda t: classifier_likelihood(t) ** 2 * t_prior.pdf(t), 0, 1, epsrel=1e-12
    )[0]
    mean_log = integrate.quad(
        lambda t: math.log(classifier_likelihood(t)) * t_prior.pdf(t), 0, 1, epsrel=1e-12
    )[0]
    return {
        "beta": {
            "sample_log_p": lambda shape, rng: np.log(beta.rvs(size=shape, random_state=rng)),
            "mean": beta.mean(),
            "variance": beta.var(),
            "mean_log": special.digamma(2) - special.digamma(5),
        },
        "mollified_classifier": {
            "sample_log_p": lambda shape, rng: np.log(
                classifier_likelihood(t_prior.rvs(size=shape, random_state=rng))
            ),
            "mean": mean,
            "variance": second - mean**2,
            "mean_log": mean_log,
        },
    }


def simulate(
    toy: dict, copies: int, draws: int, rng: np.random.Generator, chunk: int = 250_000
) -> dict:
    """Mean and standard error of each estimator minus log I over ``draws`` replications."""
    sums = {name: [0.0, 0.0] for name in ESTIMATORS}
    done = 0
    while done < draws:
        size = min(chunk, draws - done)
        log_p = torch.from_numpy(toy["sample_log_p"]((copies, size), rng))
        for name, estimator in ESTIMATORS.items():
            if name == "durbin_koopman" and copies < 2:
                continue
            error = estimator(log_p) - math.log(toy["mean"])
            sums[name][0] += error.sum().item()
            sums[name][1] += error.square().sum().item()
        done += size
    result = {}
    for name, (total, total_sq) in sums.items():
        if name == "durbin_koopman" and copies < 2:
            continue
        bias = total / draws
        variance = max(total_sq / draws - bias**2, 0.0)
        result[name] = {"bias": bias, "standard_error": math.sqrt(variance / draws)}
    return result


def plot(results: dict, path) -> None:
    figure, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 4), squeeze=False)
    for axis, (toy_name, toy) in zip(axes[0], results.items(), strict=True):
        for name, marker in (("log_mean_exp", "o"), ("durbin_koopman", "s"), ("jensen", "^")):
            ks = [row["K"] for row in toy["rows"] if name in row]
            biases = [abs(row[name]["bias"]) for row in toy["rows"] if name in row]
            errors = [row[name]["standard_error"] for row in toy["rows"] if name in row]
            axis.errorbar(ks, biases, yerr=errors, marker=marker, label=name, capsize=3)
        leading = toy["leading_bias_coefficient"]
        ks = np.array(COPIES, dtype=float)
        axis.plot(ks, leading / ks, "k--", lw=1, label="Var[p]/(2 K I^2)")
        axis.plot(ks, leading / ks**2, "k:", lw=1, label="slope -2 reference")
        axis.set(
            xscale="log",
            yscale="log",
            xlabel="K (copies per example)",
            ylabel="|E[estimate] - log I|",
            title=toy_name,
        )
        axis.set_xticks(COPIES, [str(k) for k in COPIES])
        axis.legend(fontsize=7, loc="lower left")
    save_figure(figure, path)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(__doc__.splitlines()[0], argv)
    rng = np.random.default_rng(args.seed)
    draws = 100_000 if args.fast else 2_000_000
    results, markdown = {}, "# Appendix D: bias of the estimators of log E_phi p\n"
    for toy_name, toy in make_toys().items():
        leading = toy["variance"] / (2 * toy["mean"] ** 2)
        rows = []
        for copies in COPIES:
            row = {
                "K": copies,
                "theory_log_mean_exp_bias": -leading / copies,
                "exact_jensen_bias": toy["mean_log"] - math.log(toy["mean"]),
            }
            row.update(simulate(toy, copies, draws, rng))
            rows.append(row)
        results[toy_name] = {
            "log_I": math.log(toy["mean"]),
            "leading_bias_coefficient": leading,
            "rows": rows,
        }
        table = [
            [
                row["K"],
                row["jensen"]["bias"],
                row["exact_jensen_bias"],
                row["log_mean_exp"]["bias"],
                row["theory_log_mean_exp_bias"],
                row["durbin_koopman"]["bias"] if "durbin_koopman" in row else "-",
                row["log_mean_exp"]["standard_error"],
            ]
            for row in rows
        ]
        markdown += (
            f"\n## {toy_name} (log I = {math.log(toy['mean']):.5f}, "
            f"Var[p]/(2 I^2) = {leading:.5f}, {draws} draws per K)\n\n"
            + markdown_table(
                [
                    "K",
                    "Jensen bias",
                    "E log p - log I",
                    "log-mean-exp bias",
                    "-Var/(2 K I^2)",
                    "Durbin-Koopman bias",
                    "log-mean-exp s.e.",
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
    """The claims, checked on the simulated numbers (allowing 4 standard errors)."""
    toys = [results[name] for name in ("beta", "mollified_classifier")]
    ordering, dk_smaller, lme_matches_theory, jensen_exact, slopes = True, True, True, True, []
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
                if abs(dk["bias"]) > 0.5 * abs(lme["bias"]) + 4 * dk["standard_error"]:
                    dk_smaller = False
        ks = [row["K"] for row in toy["rows"] if row["K"] >= 2]
        biases = [abs(row["log_mean_exp"]["bias"]) for row in toy["rows"] if row["K"] >= 2]
        slopes.append(float(np.polyfit(np.log(ks), np.log(biases), 1)[0]))
    return {
        "jensen_unbiased_for_E_log_p": jensen_exact,
        "jensen_below_log_mean_exp_below_log_I": ordering,
        "log_mean_exp_bias_is_minus_var_over_2K_I2": lme_matches_theory,
        "log_mean_exp_log_log_slope_per_toy": slopes,
        "log_mean_exp_bias_is_order_1_over_K": all(-1.2 < slope < -0.8 for slope in slopes),
        "durbin_koopman_bias_at_most_half_of_log_mean_exp": dk_smaller,
    }


if __name__ == "__main__":
    main()
