"""Posterior temperature on a small Bayesian problem: cold sharpens, hot widens the predictive.

A Bayesian softmax regression (``probmoll.bayes``) on synthetic 2-D data, three Gaussian
blobs, with N(0, 1) priors on the weights and biases. As in training, every point is
seen as K = 4 mollified copies (noised on the cosine schedule by probmoll's
``Mollifier``, each 2-vector viewed as a 2-channel 1 x 1 image) with smoothed labels, and
the geometric likelihood of Eq. 28 scales the log-likelihood of the K copies by
1 / (K T). NUTS samples the posterior at T = 0.25 (cold), 1 and 4 (hot):

- a colder posterior weighs the data more against the prior: larger, more certain
  weights and a sharper, more confident predictive;
- a hotter one stays closer to the prior: a wider weight posterior and a predictive
  that changes slowly across the decision boundaries.

Counting each copy as a datum (``geometric_per_copy``) at T = 1 is the geometric
likelihood at T = 1/K: the same objective, checked on prior draws.

Run: ``python docs/examples/posterior_temperature.py [--fast] [--out DIR]`` (``--fast``:
one chain of 40 draws per temperature, a few seconds; otherwise two chains of 300, with
ArviZ diagnostics, about a minute). Writes ``posterior_temperature.png`` and
``posterior_temperature.json``.
"""

from __future__ import annotations

import numpy as np
import torch
from _shared import parse_args, print_table, write_outputs

from probmoll.bayes import last_layer_logits, posterior_predictive, sample_posterior
from probmoll.likelihoods import Objective
from probmoll.mollify import Mollifier
from probmoll.utils.figures import new_figure

NUM_CLASSES = 3
COPIES = 4
TEMPERATURES = (0.25, 1.0, 4.0)
CENTRES = torch.tensor([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
COLOURS = ("tab:blue", "tab:orange", "tab:green")


def make_data(num_points: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Three Gaussian blobs in 2-D (classes in turn), on a fixed scale."""
    labels = torch.arange(num_points) % NUM_CLASSES
    features = CENTRES[labels] + 1.2 * torch.randn(num_points, 2, generator=generator)
    return features / 1.6, labels  # about unit variance per coordinate


def mollified_copies(features, labels, generator: torch.Generator):
    """K copies of every point (k-major), noised, with smoothed labels (``Objective.expand``)."""
    objective = Objective(k=COPIES)
    repeated, repeated_labels = objective.expand(features, labels)
    mollifier = Mollifier(
        roles=("clean", "noise"), label_form=objective.label_form, num_classes=NUM_CLASSES
    )
    batch = mollifier(repeated.view(-1, 2, 1, 1), repeated_labels, generator)
    return batch.x.view(-1, 2), batch.y


def per_copy_equals_cold_geometric(features, targets, generator: torch.Generator) -> float:
    """Largest |per-copy objective at T = 1 - geometric objective at T = 1/K| over prior draws."""
    per_copy = Objective(estimator="geometric_per_copy", k=COPIES)
    cold = Objective(estimator="geometric", k=COPIES, temperature=1 / COPIES)
    largest = 0.0
    for _ in range(5):
        weight = torch.randn(2, NUM_CLASSES - 1, generator=generator)
        bias = torch.randn(NUM_CLASSES - 1, generator=generator)
        logits = last_layer_logits(features, weight, bias, reference_class=0)
        largest = max(largest, (per_copy(logits, targets) - cold(logits, targets)).abs().item())
    return largest


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(__doc__.splitlines()[0], argv)
    torch.set_num_threads(1)  # tiny tensors: more threads only add synchronisation
    generator = torch.Generator().manual_seed(args.seed)
    features, labels = make_data(30, generator)
    test_features, test_labels = make_data(300, generator)
    noisy, soft_targets = mollified_copies(features, labels, generator)
    chains, warmup, samples = (1, 30, 40) if args.fast else (2, 300, 300)

    side = np.linspace(-3, 3, 61 if args.fast else 121)
    plane = torch.from_numpy(np.stack(np.meshgrid(side, side), -1).reshape(-1, 2)).float()
    # The segment from the class-1 blob to the class-2 blob, across their boundary.
    along = torch.linspace(0, 1, 101)
    segment = (CENTRES[0] + along[:, None] * (CENTRES[1] - CENTRES[0])) / 1.6

    rows, maps, profiles = [], {}, {}
    for temperature in TEMPERATURES:
        # Class 1's logit is pinned to 0: softmax is invariant to a shift shared by all
        # classes, which would leave a ridge in the posterior that NUTS explores slowly.
        draws, inference_data = sample_posterior(
            noisy,
            soft_targets,
            num_samples=samples,
            warmup=warmup,
            num_chains=chains,
            seed=args.seed,
            num_classes=NUM_CLASSES,
            copies=COPIES,
            temperature=temperature,
            reference_class=0,
        )
        predictive = posterior_predictive(draws, test_features, reference_class=0)
        weights = draws["weight"].flatten(0, 1)  # (draws, 2, C - 1)
        row = {
            "T": temperature,
            "likelihood_scale": 1 / (COPIES * temperature),
            "confidence": predictive.max(-1).values.mean().item(),
            "accuracy": (predictive.argmax(-1) == test_labels).float().mean().item(),
            "nll": -predictive.gather(-1, test_labels[:, None]).log().mean().item(),
            "weight_norm": weights.norm(dim=(-2, -1)).mean().item(),
            "weight_posterior_std": weights.std(0).mean().item(),
        }
        if chains > 1:  # R-hat needs two chains; sample_posterior has imported arviz
            import arviz

            summary = arviz.summary(inference_data, kind="diagnostics")
            row["min_ess_bulk"] = float(summary["ess_bulk"].min())
            row["max_r_hat"] = float(summary["r_hat"].max())
        rows.append(row)
        maps[temperature] = posterior_predictive(draws, plane, reference_class=0)
        profiles[temperature] = posterior_predictive(draws, segment, reference_class=0)[:, 0]

    figure = new_figure(figsize=(15, 4.2), layout="constrained")
    axes = figure.subplots(1, len(TEMPERATURES) + 1)
    levels = np.linspace(1 / NUM_CLASSES, 1, 14)
    for axis, temperature in zip(axes, TEMPERATURES, strict=False):
        confidence = maps[temperature].max(-1).values.view(len(side), len(side)).numpy()
        filled = axis.contourf(side, side, confidence, levels=levels, cmap="Greys")
        for label, colour in enumerate(COLOURS):
            points = features[labels == label]
            axis.scatter(points[:, 0], points[:, 1], s=12, color=colour, edgecolor="k", lw=0.3)
        axis.plot(*segment[[0, -1]].T, "r-", lw=1)
        axis.set(title=f"T = {temperature:g}: max_c p(c | x, data)", aspect="equal")
        axis.set_xticks([])
        axis.set_yticks([])
    figure.colorbar(
        filled,
        ax=axes[: len(TEMPERATURES)],
        shrink=0.8,
        format="%.2f",
        label="predictive confidence",
    )
    for temperature, style in zip(TEMPERATURES, ("-", "--", ":"), strict=True):
        axes[-1].plot(along, profiles[temperature], style, color="k", label=f"T = {temperature:g}")
    axes[-1].set(
        xlabel="along the red segment (class 1 → class 2 centre)",
        ylabel="p(class 1 | x, data)",
        title="predictive across the boundary",
        ylim=(0, 1),
    )
    axes[-1].legend()
    axes[-1].grid(alpha=0.3)

    results = {
        "copies": COPIES,
        "chains": chains,
        "warmup": warmup,
        "samples_per_chain": samples,
        "rows": rows,
        "per_copy_vs_geometric": per_copy_equals_cold_geometric(noisy, soft_targets, generator),
    }
    columns = ["T", "likelihood_scale", "confidence", "accuracy", "nll", "weight_posterior_std"]
    print_table(columns, [[row[column] for column in columns] for row in rows])
    print(f"per-copy at T = 1 vs geometric at T = 1/K: {results['per_copy_vs_geometric']:.2g}")
    write_outputs(args.out, "posterior_temperature", results, {"posterior_temperature": figure})
    return results


if __name__ == "__main__":
    main()
