"""The Objective's checks on its targets: K copies share their class, tempered targets.

A batch of K * B rows must hold the K copies of B examples in k-major order
(``Objective.expand``); the copies of one example share its class, which is all the loss
can see of it. The tempered form needs tempered targets ``(1 - gamma) e_y`` (Eq. 7).
"""

import pytest
import torch
import torch.nn.functional as F

from probmoll.likelihoods import Objective, list_likelihood_forms
from probmoll.mollify import Mollifier, label_smooth, label_temper
from tests.helpers import SyncRecorder

NUM_CLASSES = 10


def distinct_examples(rows, generator):
    """Images and labels of ``rows`` distinct examples: every class occurs, in turn."""
    images = torch.randn(rows, 3, 4, 4, generator=generator)
    return images, torch.arange(rows) % NUM_CLASSES


def mollified(objective, images, labels, generator):
    mollifier = Mollifier(label_form=objective.label_form, num_classes=NUM_CLASSES)
    return mollifier(images, labels, generator).y


@pytest.mark.parametrize("form", list_likelihood_forms())
def test_an_unexpanded_batch_of_distinct_examples_raises(form, generator):
    objective = Objective(form=form, estimator="log_mean_exp", k=2)
    images, labels = distinct_examples(8, generator)  # B * K = 8 rows, never expanded
    logits = torch.randn(8, NUM_CLASSES, generator=generator)
    for targets in (labels, mollified(objective, images, labels, generator)):
        for call in (objective, objective.estimate, objective.log_likelihood):
            with pytest.raises(ValueError, match=r"k=2.*Objective\.expand") as error:
                call(logits, targets)
            # Names the examples whose copies disagree and their classes.
            assert "example 0" in str(error.value) and "[0, 4]" in str(error.value)


def test_the_async_check_fails_without_reading_the_device(generator):
    objective = Objective(estimator="log_mean_exp", k=4)
    images, labels = distinct_examples(8, generator)
    logits = torch.randn(8, NUM_CLASSES, generator=generator)
    targets = mollified(objective, images, labels, generator)
    # On the CPU a failed device assertion raises at once; on CUDA the stream fails.
    with pytest.raises(RuntimeError, match=r"k=4.*Objective\.expand"):
        objective(logits, targets, validate="async")
    expanded_images, expanded_labels = objective.expand(images[:2], labels[:2])
    targets = mollified(objective, expanded_images, expanded_labels, generator)
    with SyncRecorder() as recorder:
        objective(logits, targets, validate="async")
    assert recorder.syncs == []
    assert any("_assert_async" in op for op in recorder.ops)


def test_unchecked_calls_accept_any_rows(generator):
    objective = Objective(form="temper", estimator="log_mean_exp", k=2)
    logits = torch.randn(8, NUM_CLASSES, generator=generator)
    soft = torch.softmax(torch.randn(8, NUM_CLASSES, generator=generator), -1)
    assert torch.isfinite(objective(logits, soft, validate=False))
    with pytest.raises(ValueError, match="validate must be True, False or 'async'"):
        objective(logits, soft, validate="later")


@pytest.mark.parametrize("form", list_likelihood_forms())
@pytest.mark.parametrize("k", [2, 3])
def test_expanded_batches_pass_in_k_major_order(form, k, generator):
    objective = Objective(form=form, estimator="log_mean_exp", k=k)
    images, labels = distinct_examples(16, generator)
    expanded_images, expanded_labels = objective.expand(images, labels)
    logits = torch.randn(16 * k, NUM_CLASSES, generator=generator)
    for _ in range(5):  # new roles and levels each time
        targets = mollified(objective, expanded_images, expanded_labels, generator)
        for validate in (True, "async"):
            assert torch.isfinite(objective(logits, targets, validate=validate))
        assert torch.isfinite(objective(logits, expanded_labels))
    # Copy-major (b-major) order is not the layout of expand: its rows disagree.
    with pytest.raises(ValueError, match="Objective.expand"):
        objective(logits, labels.repeat_interleave(k))


def test_copies_may_lose_their_label_entirely(generator):
    # gamma = 1 leaves a uniform (smooth) or all-zero (temper) row: no class at all,
    # which is consistent with every class.
    labels = torch.tensor([3, 7]).repeat(2)
    gamma = torch.tensor([0.2, 0.5, 1.0, 1.0])
    logits = torch.randn(4, NUM_CLASSES, generator=generator)
    smoothed = label_smooth(labels, gamma, NUM_CLASSES)
    Objective(estimator="log_mean_exp", k=2)(logits, smoothed)
    tempered = label_temper(labels, gamma, NUM_CLASSES)
    Objective(form="temper", estimator="log_mean_exp", k=2)(logits, tempered)


def test_mixed_targets_expanded_then_smoothed_pass(generator):
    # MixUp before expand (the training engine's order), ties included (lambda = 1/2).
    first, second = torch.arange(6) % NUM_CLASSES, (torch.arange(6) + 1) % NUM_CLASSES
    lam = torch.tensor([0.5, 0.5, 0.3, 0.7, 0.5, 0.9]).unsqueeze(-1)
    mixed = lam * F.one_hot(first, NUM_CLASSES) + (1 - lam) * F.one_hot(second, NUM_CLASSES)
    objective = Objective(form="normalized", estimator="durbin_koopman", k=3)
    expanded = objective.expand(torch.zeros(6, 1, 2, 2), mixed)[1]
    gamma = torch.rand(18, generator=generator)
    logits = torch.randn(18, NUM_CLASSES, generator=generator)
    assert torch.isfinite(objective(logits, label_smooth(expanded, gamma)))


def test_k_one_checks_no_copies(generator):
    logits = torch.randn(8, NUM_CLASSES, generator=generator)
    soft = torch.softmax(torch.randn(8, NUM_CLASSES, generator=generator), -1)
    assert torch.allclose(Objective()(logits, soft), F.cross_entropy(logits, soft))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_the_tempered_form_rejects_smoothed_targets(dtype, generator):
    objective = Objective(form="temper", estimator="log_mean_exp", k=2)
    labels = torch.tensor([1, 4, 1, 4])
    logits = torch.randn(4, NUM_CLASSES, generator=generator)
    gamma = torch.tensor([0.0, 0.3, 0.1, 0.6], dtype=dtype)
    smoothed = label_smooth(labels, gamma, NUM_CLASSES)
    message = r"form 'temper'.*label_form='temper'.*rows \[1, 2, 3\]"
    with pytest.raises(ValueError, match=message):
        objective(logits, smoothed)
    with pytest.raises(RuntimeError, match=r"form 'temper'.*label_form='temper'"):
        objective(logits, smoothed, validate="async")
    # Tempered targets (Eq. 7) and class indices pass, in every dtype.
    objective(logits, label_temper(labels, gamma, NUM_CLASSES))
    objective(logits, labels)


def test_the_tempered_form_tolerates_rounding_but_not_mass_elsewhere(generator):
    objective = Objective(form="temper")
    logits = torch.randn(2, 4, generator=generator, dtype=torch.float64)
    rounded = torch.tensor([[0.0, 0.7, 1e-9, 0.0], [0.25, 0.0, 0.0, 0.0]], dtype=torch.float64)
    objective(logits, rounded)
    for row in ([0.0, 0.7, 1e-3, 0.0], [0.0, 1.2, 0.0, 0.0], [-0.1, 0.7, 0.0, 0.0]):
        targets = torch.tensor([row, [0.25, 0.0, 0.0, 0.0]], dtype=torch.float64)
        with pytest.raises(ValueError, match=r"form 'temper'.*rows \[0\]"):
            objective(logits, targets)
    # MixUp targets spread mass over two classes: not the tempered form either.
    mixed = torch.tensor([[0.5, 0.5, 0.0, 0.0]] * 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="form 'temper'"):
        objective(logits, mixed)
    # The other forms take any soft targets.
    for form in ("smooth", "normalized", "ce"):
        Objective(form=form)(logits, mixed)
