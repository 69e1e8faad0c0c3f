"""Eq. 28 vs Eq. 21: the geometric (tempered) augmented likelihood is the Jensen lower bound.

Claim (Appendix D, "Tempering vs augmented likelihood"): the geometric likelihood
prod_n prod_k p(y_n | x_n, phi_k)^(1/K) (Eq. 28) is the Monte Carlo form (Eq. 22) of the
Jensen bound sum_n int log p(y_n | x_n, phi) p(phi) dphi (Eq. 21), which lies below the
augmented likelihood sum_n log int p(y_n | x_n, phi) p(phi) dphi (Eq. 20).

Evidence, on a toy mollified classifier (N examples, C = 10 classes, logits (1 - t) z_n
fading with the mollification level t ~ Beta(1, 2); the label is argmax z_n):

1. log of Eq. 28 evaluated as a product of powers equals sum_n jensen(log p) (Eq. 22) and
   sum_n geometric(log p, T=1) to rounding, for every K;
2. averaged over replications, Eq. 22 matches Eq. 21 computed by quadrature (unbiased);
3. Eq. 20 (quadrature) exceeds Eq. 21: the bound is strict;
4. counting each copy as a datum multiplies the log-likelihood by K.

Run: ``python paper_appendix/eq28_geometric.py [--fast] [--out DIR]``. Writes
``eq28_geometric.json`` and ``.md``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from _common import number_table, parse_args, write_outputs
from scipy import integrate, stats

from probmoll.likelihoods import geometric, geometric_per_copy, jensen, soft_label_log_likelihood

NUM_CLASSES = 10
T_PRIOR = stats.beta(1, 2)


def log_likelihood(
    levels: torch.Tensor, directions: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """log p(y_n | x_n, t) for mollification levels ``levels`` (..., N): logits (1 - t) z_n."""
    logits = (1 - levels).unsqueeze(-1) * directions
    return soft_label_log_likelihood(logits, labels)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(__doc__.splitlines()[0], argv)
    generator = torch.Generator().manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    num_examples = 8 if args.fast else 32
    replications = 2_000 if args.fast else 20_000
    directions = (
        torch.randn(num_examples, NUM_CLASSES, generator=generator, dtype=torch.float64) * 3
    )
    labels = directions.argmax(-1)  # right on clean images, fading to uniform as t -> 1

    def per_example(t, n):
        return log_likelihood(
            torch.tensor([t], dtype=torch.float64), directions[n : n + 1], labels[n : n + 1]
        ).item()

    eq21 = sum(
        integrate.quad(lambda t, n=n: per_example(t, n) * T_PRIOR.pdf(t), 0, 1, epsrel=1e-12)[0]
        for n in range(num_examples)
    )
    eq20 = sum(
        math.log(
            integrate.quad(
                lambda t, n=n: math.exp(per_example(t, n)) * T_PRIOR.pdf(t), 0, 1, epsrel=1e-12
            )[0]
        )
        for n in range(num_examples)
    )

    rows, records = [], []
    for copies in (1, 4, 16):
        levels = torch.from_numpy(
            T_PRIOR.rvs(size=(replications, copies, num_examples), random_state=rng)
        )
        log_p = log_likelihood(levels, directions, labels)  # (R, K, N)
        # Eq. 28 literally: the product over n and k of p^(1/K), then its log.
        eq28 = torch.log(torch.prod(torch.exp(log_p[0]) ** (1 / copies))).item()
        eq22 = jensen(log_p[0]).sum().item()
        geometric_value = geometric(log_p[0]).sum().item()
        per_copy_ratio = geometric_per_copy(log_p[0]).sum().item() / geometric_value
        bounds = jensen(log_p, dim=1).sum(-1)  # Eq. 22 for each replication
        mc_mean = bounds.mean().item()
        mc_error = bounds.std().item() / math.sqrt(replications)
        record = {
            "K": copies,
            "eq28_log_product": eq28,
            "eq22_jensen": eq22,
            "geometric_T1": geometric_value,
            "abs_diff_eq28_eq22": abs(eq28 - eq22),
            "abs_diff_geometric_jensen": abs(geometric_value - eq22),
            "per_copy_over_geometric": per_copy_ratio,
            "eq22_mean_over_replications": mc_mean,
            "eq22_standard_error": mc_error,
        }
        records.append(record)
        rows.append([copies, eq28, eq22, abs(eq28 - eq22), mc_mean, mc_error, eq21, per_copy_ratio])

    conclusions = {
        "eq28_equals_eq22": all(
            r["abs_diff_eq28_eq22"] < 1e-10 and r["abs_diff_geometric_jensen"] < 1e-12
            for r in records
        ),
        "eq22_unbiased_for_eq21": all(
            abs(r["eq22_mean_over_replications"] - eq21) < 4 * r["eq22_standard_error"]
            for r in records
        ),
        "eq21_below_eq20": eq21 < eq20,
        "per_copy_is_K_times": all(
            abs(r["per_copy_over_geometric"] - r["K"]) < 1e-9 for r in records
        ),
    }
    results = {
        "claim": "geometric likelihood (Eq. 28) = Monte Carlo Jensen bound (Eq. 22) of Eq. 21"
        " <= Eq. 20",
        "num_examples": num_examples,
        "replications": replications,
        "eq21_quadrature": eq21,
        "eq20_quadrature": eq20,
        "rows": records,
        "conclusions": conclusions,
    }
    markdown = (
        f"# Eq. 28 vs Eq. 21 (N = {num_examples} examples, {replications} replications)\n\n"
        f"Eq. 21 (quadrature) = {eq21:.6f}; Eq. 20 (quadrature) = {eq20:.6f}\n\n"
        + number_table(
            [
                "K",
                "log Eq. 28",
                "Eq. 22",
                "|diff|",
                "mean Eq. 22",
                "s.e.",
                "Eq. 21",
                "per-copy / geometric",
            ],
            rows,
        )
    )
    write_outputs(args.out, "eq28_geometric", results, markdown)
    return results


if __name__ == "__main__":
    main()
