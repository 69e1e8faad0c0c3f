"""Per-step cost of every likelihood form x estimator, against cross-entropy and a training step.

Claim: the augmented-likelihood objectives cost a few percent of one SGD step of a
width-16 preact-ResNet-18 on a 128 x 3 x 32 x 32 batch, at most, even the normalized
form (its log Z is C extra log-space terms per row).

Measured side by side in one run, forward + backward, on a batch of 128 rows (K copies of
128 / K images), C = 10 and C = 100 classes, K = 1 and K = 4:

- ``Objective(form, estimator, k)`` for every registered form and estimator;
- ``torch.nn.functional.cross_entropy`` with probability targets (the usual soft-target loss);
- one SGD step (forward, backward, update) of ``preact_resnet18_w16``.

Run: ``python benchmarks/bench_likelihoods.py [--device cuda] [--fast]``.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch.utils import benchmark

from probmoll.likelihoods import (
    Objective,
    get_estimator_spec,
    get_likelihood_form,
    list_estimators,
    list_likelihood_forms,
)

BATCH = 128


def median_seconds(fn, device: torch.device, min_run_time: float) -> float:
    def step():
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()

    step()  # warm-up (allocations, kernel selection)
    timer = benchmark.Timer(stmt="step()", globals={"step": step})
    return timer.blocked_autorange(min_run_time=min_run_time).median


def loss_step(loss_fn, logits: torch.Tensor, targets: torch.Tensor):
    def run():
        logits.grad = None
        loss_fn(logits, targets).backward()

    return run


def training_step(device: torch.device):
    from probmoll.models import create_model

    model = create_model("preact_resnet18_w16", num_classes=10, in_channels=3, image_size=32).to(
        device
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    images = torch.randn(BATCH, 3, 32, 32, device=device)
    labels = torch.randint(10, (BATCH,), device=device)

    def run():
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(images), labels).backward()
        optimizer.step()

    return run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--fast", action="store_true", help="shorter timing runs")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    min_run_time = 0.05 if args.fast else 0.5
    generator = torch.Generator().manual_seed(0)

    train_seconds = median_seconds(training_step(device), device, min_run_time * 4)
    print(f"device: {device}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(f"one SGD step of preact_resnet18_w16 on {BATCH}x3x32x32: {train_seconds * 1e3:.2f} ms\n")
    header = (
        f"{'C':>4} {'K':>2} {'form':>15} {'estimator':>19} {'us/step':>9} {'x soft CE':>9} "
        f"{'% train step':>12}"
    )
    print(header)
    print("-" * len(header))
    for num_classes in (10, 100):
        logits = torch.randn(BATCH, num_classes, generator=generator).to(device).requires_grad_()
        # Targets as training makes them: BATCH / K examples, each repeated K times
        # (k-major, as Objective.expand does), smoothed or tempered as the form needs.
        scores = torch.randn(BATCH, num_classes, generator=generator)
        gamma = torch.rand(BATCH, 1, generator=generator)
        tempered_all = (1 - gamma) * F.one_hot(scores.argmax(-1), num_classes)
        smoothed_all = torch.softmax(scores, -1)

        def targets_for(form, copies, tempered=tempered_all, smoothed=smoothed_all):
            label_form = get_likelihood_form(form).label_form
            base = (tempered if label_form == "temper" else smoothed)[: BATCH // copies]
            return base.repeat(copies, 1).to(device)

        targets = smoothed_all.to(device)
        step = loss_step(F.cross_entropy, logits, targets)
        cross_entropy = median_seconds(step, device, min_run_time)

        def report(
            copies, form, estimator, seconds, num_classes=num_classes, reference=cross_entropy
        ):
            print(
                f"{num_classes:>4} {copies:>2} {form:>15} {estimator:>19} {seconds * 1e6:>9.1f} "
                f"{seconds / reference:>9.2f} {100 * seconds / train_seconds:>11.2f}%"
            )

        report("-", "F.cross_entropy", "(soft targets)", cross_entropy)
        for copies in (1, 4):
            for form in list_likelihood_forms():
                for estimator in list_estimators():
                    if copies < get_estimator_spec(estimator).min_copies:
                        continue
                    objective = Objective(form=form, estimator=estimator, k=copies)
                    step = loss_step(objective, logits, targets_for(form, copies))
                    report(copies, form, estimator, median_seconds(step, device, min_run_time))


if __name__ == "__main__":
    main()
