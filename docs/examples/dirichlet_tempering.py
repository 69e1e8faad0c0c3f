"""Dirichlet and tempering behaviour of the mollified likelihoods, in numbers.

Part 1 (Sec. 3.3, Fig. 4). The cross-entropy with label y is log Dir(f | 1 + y) up to a
constant (Eq. 10-11). As the label level gamma grows, where does the density put its mode
(the prediction a model is pushed towards), and how peaked is it? Tempered labels
(Eq. 7) keep the mode at the one-hot vertex and only flatten the density; smoothed labels
(Eq. 8) move the mode inside the simplex, to y^LS.

Part 2 (Appendix D, Eq. 28). A Bayesian softmax regression in Pyro, trained on K noised
copies of each point with smoothed labels, under a N(0, 1) prior. The geometric likelihood
scales the log-likelihood by 1/(K T) (each image worth one datum) or by 1/T (each copy
a datum): both the temperature T and the choice of counting move the likelihood against
the prior, and with it the posterior predictive confidence. Sampled with NUTS, summarised
with ArviZ (``probmoll.bayes``).

Run: ``python docs/examples/dirichlet_tempering.py [--fast] [--json PATH]`` (< 1 minute).
"""

from __future__ import annotations

import argparse
import json
import math

import arviz as az
import torch

from probmoll.bayes import last_layer_logits, posterior_predictive, sample_posterior
from probmoll.likelihoods import Objective, dirichlet_log_likelihood, dirichlet_mode

NUM_CLASSES = 3


# ----------------------------------------------------------------------------- part 1


def dirichlet_table(gammas: list[float]) -> list[dict]:
    """Mode of Dir(f | 1 + y) and its peak height above the centre, per label form and gamma."""
    from probmoll.mollify import label_smooth, label_temper

    label = torch.tensor([0])
    centre_logits = torch.zeros(1, NUM_CLASSES, dtype=torch.float64)
    rows = []
    for form, make_targets in (("temper", label_temper), ("smooth", label_smooth)):
        for gamma in gammas:
            targets = make_targets(label, torch.tensor([gamma], dtype=torch.float64), NUM_CLASSES)
            mode = dirichlet_mode(targets)
            # log f at the mode; a vertex has f_c = 0, kept finite by a floor of e^-60.
            mode_logits = mode.clamp(min=math.exp(-60)).log()
            peak = dirichlet_log_likelihood(mode_logits, targets) - dirichlet_log_likelihood(
                centre_logits, targets
            )
            rows.append(
                {
                    "form": form,
                    "gamma": gamma,
                    "mode_true_class": mode[0, 0].item(),
                    "mode_other_class": mode[0, 1].item(),
                    "log_peak_over_centre": peak.item(),
                }
            )
    return rows


# ----------------------------------------------------------------------------- part 2


def make_data(num_points: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Three Gaussian blobs in 2-D, standardised features."""
    centres = torch.tensor([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    labels = torch.arange(num_points) % NUM_CLASSES
    features = centres[labels] + 1.2 * torch.randn(num_points, 2, generator=generator)
    return (features - features.mean(0)) / features.std(0), labels


def mollified_copies(features, labels, copies: int, generator: torch.Generator):
    """K copies of every point (k-major), noised on the cosine schedule, with smoothed labels."""
    from probmoll.mollify import Mollifier

    objective = Objective(k=copies)
    repeated, repeated_labels = objective.expand(features, labels)
    mollifier = Mollifier(
        roles=("clean", "noise"), label_form=objective.label_form, num_classes=NUM_CLASSES
    )
    # The mollifier works on (B, C, H, W) images: view each 2-vector as a 2-channel 1x1 image.
    batch = mollifier(repeated.view(-1, 2, 1, 1), repeated_labels, generator)
    return batch.x.view(-1, 2), batch.y


def predictive_summary(draws, features, labels) -> dict:
    predictive = posterior_predictive(draws, features, reference_class=0)
    weight = draws["weight"].flatten(0, 1)
    return {
        "confidence": predictive.max(-1).values.mean().item(),
        "accuracy": (predictive.argmax(-1) == labels).float().mean().item(),
        "nll": -predictive.gather(-1, labels[:, None]).log().mean().item(),
        "weight_norm": weight.norm(dim=(-2, -1)).mean().item(),
    }


def tempering_table(fast: bool, seed: int) -> list[dict]:
    generator = torch.Generator().manual_seed(seed)
    copies = 4
    features, labels = make_data(30, generator)
    test_features, test_labels = make_data(300, generator)
    noisy, soft_targets = mollified_copies(features, labels, copies, generator)
    warmup, samples = (30, 30) if fast else (200, 200)
    rows = []
    for temperature in (4.0, 1.0, 0.25):
        # Class 0's logit is pinned to 0: softmax is invariant to a shared shift, which
        # would otherwise leave a ridge in the posterior that NUTS explores slowly.
        draws, inference_data = sample_posterior(
            noisy,
            soft_targets,
            num_samples=samples,
            warmup=warmup,
            num_chains=2,
            seed=seed,
            num_classes=NUM_CLASSES,
            copies=copies,
            temperature=temperature,
            reference_class=0,
        )
        scale = 1 / (copies * temperature)
        row = {"estimator": "geometric", "T": temperature, "likelihood_scale": scale}
        row.update(predictive_summary(draws, test_features, test_labels))
        diagnostics = az.summary(inference_data, kind="diagnostics")
        row["min_ess_bulk"] = float(diagnostics["ess_bulk"].min())
        row["max_r_hat"] = float(diagnostics["r_hat"].max())
        rows.append(row)
    return rows


def per_copy_equals_cold_geometric(seed: int, copies: int = 4) -> float:
    """Counting each copy as a datum at T = 1 is the geometric likelihood at T = 1/K.

    Returns the largest |difference| of the two objectives over a few prior draws.
    """
    generator = torch.Generator().manual_seed(seed)
    features, labels = make_data(30, generator)
    noisy, soft_targets = mollified_copies(features, labels, copies, generator)
    per_copy = Objective(estimator="geometric_per_copy", k=copies)
    cold = Objective(estimator="geometric", k=copies, temperature=1 / copies)
    largest = 0.0
    for _ in range(5):
        weight = torch.randn(2, NUM_CLASSES - 1, generator=generator)
        bias = torch.randn(NUM_CLASSES - 1, generator=generator)
        logits = last_layer_logits(noisy, weight, bias, reference_class=0)
        largest = max(
            largest, (per_copy(logits, soft_targets) - cold(logits, soft_targets)).abs().item()
        )
    return largest


def print_table(rows: list[dict], columns: list[str]) -> None:
    print(" | ".join(f"{c:>18}" for c in columns))
    for row in rows:
        print(
            " | ".join(
                f"{row[c]:>18.4g}" if isinstance(row[c], float) else f"{row[c]:>18}"
                for c in columns
            )
        )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="fewer NUTS samples")
    parser.add_argument("--json", help="also write the tables to this JSON file")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    # Tensors here are tiny: extra threads only add synchronisation overhead.
    torch.set_num_threads(1)

    dirichlet_rows = dirichlet_table([0.0, 0.25, 0.5, 0.75, 0.95])
    print("Part 1: mode of Dir(f | 1 + y) for the true class 1 of 3")
    print_table(
        dirichlet_rows,
        ["form", "gamma", "mode_true_class", "mode_other_class", "log_peak_over_centre"],
    )

    tempering_rows = tempering_table(args.fast, args.seed)
    print("\nPart 2: posterior predictive on clean test points, K = 4 noised copies per point")
    print("(geometric at T = 1/K = 0.25 is the per-copy likelihood at T = 1, see below)")
    print_table(
        tempering_rows,
        [
            "estimator",
            "T",
            "likelihood_scale",
            "confidence",
            "accuracy",
            "nll",
            "weight_norm",
            "min_ess_bulk",
            "max_r_hat",
        ],
    )
    difference = per_copy_equals_cold_geometric(args.seed)
    print(
        "\nper-copy counting at T = 1 vs geometric at T = 1/K: "
        f"max |objective difference| = {difference:.3g}"
    )
    results = {
        "dirichlet": dirichlet_rows,
        "tempering": tempering_rows,
        "per_copy_vs_geometric": difference,
    }
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)
    return results


if __name__ == "__main__":
    main()
