"""LikelihoodConfig validation and the Objective loss: layout, normalisation, forms x estimators."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from probmoll.likelihoods import (
    LABEL_FORMS,
    LikelihoodConfig,
    Objective,
    get_estimator_spec,
    get_likelihood_form,
    list_estimators,
    list_likelihood_forms,
    log_partition,
    register_likelihood_form,
    soft_label_log_likelihood,
    tempered_log_likelihood,
)


def valid_k(estimator):
    return max(2, get_estimator_spec(estimator).min_copies)


def mollified_copies(objective, batch, num_classes, generator, dtype):
    """Targets of K mollified copies of ``batch`` examples (k-major), each copy at its own
    level, in the label form of ``objective``: what its loss receives in training."""
    labels = objective.expand(
        torch.zeros(batch, 1), torch.randint(num_classes, (batch,), generator=generator)
    )[1]
    gamma = torch.rand(labels.shape[0], 1, generator=generator, dtype=dtype)
    one_hot = F.one_hot(labels, num_classes).to(dtype)
    return {
        "smooth": (1 - gamma) * one_hot + gamma / num_classes,
        "temper": (1 - gamma) * one_hot,
        "none": labels,
    }[objective.label_form]


def test_defaults_and_registry_contents():
    config = LikelihoodConfig()
    assert (config.form, config.estimator, config.k, config.temperature) == (
        "smooth",
        "jensen",
        1,
        1.0,
    )
    assert set(list_likelihood_forms()) >= {"smooth", "temper", "normalized", "ce"}
    expected_label_forms = {
        "smooth": "smooth",
        "temper": "temper",
        "normalized": "smooth",
        "ce": "none",
    }
    for form, label_form in expected_label_forms.items():
        assert Objective(form=form).label_form == label_form
    for name in list_likelihood_forms():
        assert get_likelihood_form(name).label_form in LABEL_FORMS


def test_config_is_frozen_and_loads_from_dict():
    config = LikelihoodConfig.from_dict(
        {"form": "normalized", "estimator": "durbin_koopman", "k": 4}
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.k = 2
    with pytest.raises(ValueError, match=r"unknown likelihood config keys \['K'\]"):
        LikelihoodConfig.from_dict({"K": 4})


@pytest.mark.parametrize(
    "fields, error, match",
    [
        (
            {"form": "dirichlet"},
            ValueError,
            r"unknown likelihood form 'dirichlet'.*ce, normalized, smooth, temper",
        ),
        ({"estimator": "iwae"}, ValueError, r"unknown estimator 'iwae'.*durbin_koopman"),
        ({"k": 0}, ValueError, r"k >= 1.*k=0"),
        ({"k": 2.0}, TypeError, r"k must be an int.*2\.0"),
        ({"k": True}, TypeError, "k must be an int"),
        ({"estimator": "durbin_koopman", "k": 1}, ValueError, r"'durbin_koopman' needs k >= 2"),
        ({"estimator": "geometric", "temperature": 0.0}, ValueError, "temperature"),
        ({"estimator": "geometric", "temperature": float("inf")}, ValueError, "temperature"),
        ({"estimator": "geometric", "temperature": "1"}, TypeError, "temperature"),
        (
            {"estimator": "jensen", "temperature": 0.5},
            ValueError,
            r"no effect.*geometric, geometric_per_copy",
        ),
    ],
)
def test_config_rejects_bad_values(fields, error, match):
    with pytest.raises(error, match=match):
        LikelihoodConfig(**fields)


def test_k_one_smooth_loss_is_torch_soft_target_cross_entropy(generator):
    logits = torch.randn(12, 5, generator=generator, dtype=torch.float64)
    soft = torch.softmax(torch.randn(12, 5, generator=generator, dtype=torch.float64), -1)
    hard = torch.randint(5, (12,), generator=generator)
    assert torch.allclose(Objective()(logits, soft), F.cross_entropy(logits, soft))
    assert torch.allclose(Objective(form="ce")(logits, hard), F.cross_entropy(logits, hard))
    for estimator in ("jensen", "log_mean_exp", "geometric", "geometric_per_copy"):
        assert torch.allclose(
            Objective(estimator=estimator)(logits, soft), F.cross_entropy(logits, soft)
        )


def test_expand_is_k_major_and_log_likelihood_reshapes_consistently(generator):
    objective = Objective(k=3)
    images = torch.randn(4, 2, 5, 5, generator=generator)
    labels = torch.arange(4)
    expanded_images, expanded_labels = objective.expand(images, labels)
    assert expanded_images.shape == (12, 2, 5, 5)
    for k in range(3):
        for b in range(4):
            assert torch.equal(expanded_images[k * 4 + b], images[b])
            assert expanded_labels[k * 4 + b] == labels[b]
    logits = torch.randn(12, 6, generator=generator, dtype=torch.float64)
    per_copy = objective.log_likelihood(logits, expanded_labels)
    assert per_copy.shape == (3, 4)
    for k in range(3):
        assert torch.allclose(
            per_copy[k], soft_label_log_likelihood(logits[k * 4 : (k + 1) * 4], labels)
        )
    assert objective.expand(images, labels)[0].data_ptr() != images.data_ptr()
    assert Objective(k=1).expand(images, labels)[0] is images


@pytest.mark.parametrize("form", list_likelihood_forms())
@pytest.mark.parametrize("estimator", list_estimators())
def test_every_form_and_estimator_gives_a_differentiable_scalar(form, estimator, generator):
    temperature = 0.5 if get_estimator_spec(estimator).accepts_temperature else 1.0
    objective = Objective(
        form=form, estimator=estimator, k=valid_k(estimator), temperature=temperature
    )
    k, batch, classes = objective.k, 5, 4
    logits = torch.randn(k * batch, classes, generator=generator, requires_grad=True)
    targets = mollified_copies(objective, batch, classes, generator, torch.float32)
    per_copy = objective.log_likelihood(logits, targets)
    expected = get_likelihood_form(form).log_likelihood(logits, targets).view(k, batch)
    assert torch.allclose(per_copy, expected)
    spec = get_estimator_spec(estimator)
    kwargs = {"temperature": temperature} if spec.accepts_temperature else {}
    estimate = objective.estimate(logits, targets)
    assert estimate.shape == (batch,)
    assert torch.allclose(estimate, spec.fn(expected, dim=0, **kwargs))
    loss = objective(logits, targets)
    assert loss.shape == () and torch.allclose(loss, -estimate.mean())
    loss.backward()
    assert torch.isfinite(logits.grad).all()


def test_normalized_form_subtracts_log_partition(generator):
    logits = torch.randn(6, 3, generator=generator, dtype=torch.float64)
    targets = torch.softmax(torch.randn(6, 3, generator=generator, dtype=torch.float64), -1)
    difference = Objective(form="normalized")(logits, targets) - Objective(form="smooth")(
        logits, targets
    )
    assert torch.allclose(difference, log_partition(logits).mean())


def test_distinct_images_and_repr():
    objective = Objective(LikelihoodConfig(estimator="log_mean_exp", k=4))
    assert objective.distinct_images(128) == 32
    with pytest.raises(ValueError, match="not a multiple of k=4"):
        objective.distinct_images(130)
    with pytest.raises(ValueError, match="positive int"):
        objective.distinct_images(0)
    text = repr(objective)
    assert "estimator='log_mean_exp'" in text and "k=4" in text and "label_form='smooth'" in text


def test_objective_overrides_and_type_checks():
    base = LikelihoodConfig(form="temper")
    assert Objective(base, k=2).config == dataclasses.replace(base, k=2)
    with pytest.raises(TypeError, match="LikelihoodConfig"):
        Objective({"form": "smooth"})


@pytest.mark.parametrize(
    "logits_shape, targets, match",
    [
        ((6, 3), torch.zeros(6, dtype=torch.long), r"6 rows, not a positive multiple of k=4"),
        ((8,), torch.zeros(8, dtype=torch.long), r"\(K \* B, C\), got \(8,\)"),
        (
            (8, 3),
            torch.zeros(4, dtype=torch.long),
            r"targets must have shape \(8,\) or \(8, 3\).*\(4,\)",
        ),
        ((8, 3), torch.zeros(8, 5), r"\(8, 5\)"),
    ],
)
def test_objective_validates_shapes(logits_shape, targets, match):
    objective = Objective(estimator="log_mean_exp", k=4)
    with pytest.raises(ValueError, match=match):
        objective(torch.zeros(logits_shape), targets)


def test_expand_validates_batch_dimension():
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(4,\)"):
        Objective(k=2).expand(torch.zeros(3, 2), torch.zeros(4))


def test_register_likelihood_form_validates():
    with pytest.raises(ValueError, match="already registered"):
        register_likelihood_form("smooth", soft_label_log_likelihood, label_form="smooth")
    with pytest.raises(ValueError, match=r"unknown label_form 'soft'.*smooth, temper, none"):
        register_likelihood_form("soft", soft_label_log_likelihood, label_form="soft")


def test_label_forms_match_the_mollifier():
    from probmoll.mollify import LabelForm

    assert set(LABEL_FORMS) == {form.value for form in LabelForm}


@pytest.mark.parametrize("form", list_likelihood_forms())
def test_objective_with_mollifier_end_to_end(form, generator):
    """expand -> Mollifier(label_form=objective.label_form) -> loss.

    For form temper the per-copy log-likelihood is Eq. 9 with power 1 - gamma."""
    from probmoll.mollify import Mollifier

    objective = Objective(form=form, estimator="log_mean_exp", k=2)
    images, labels = torch.randn(3, 1, 4, 4, generator=generator), torch.tensor([0, 2, 1])
    expanded_images, expanded_labels = objective.expand(images, labels)
    mollifier = Mollifier(label_form=objective.label_form, num_classes=4)
    batch = mollifier(expanded_images, expanded_labels, generator)
    logits = torch.randn(6, 4, generator=generator, requires_grad=True)
    loss = objective(logits, batch.y)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()
    if form == "temper":
        per_copy = objective.log_likelihood(logits, batch.y).flatten()
        expected = tempered_log_likelihood(logits, expanded_labels, 1 - batch.gamma)
        assert torch.allclose(per_copy, expected, atol=1e-6)
    if form == "ce":
        assert torch.equal(batch.y.argmax(-1), expanded_labels) and torch.all(
            batch.y.max(-1).values == 1
        )


@pytest.mark.parametrize(
    "form, estimator, k, temperature",
    [
        ("smooth", "jensen", 1, 1.0),
        ("smooth", "durbin_koopman", 3, 1.0),
        ("normalized", "log_mean_exp", 2, 1.0),
        ("normalized", "durbin_koopman", 2, 1.0),
        ("temper", "geometric", 3, 0.5),
        ("ce", "geometric_per_copy", 2, 2.0),
    ],
)
def test_gradcheck_objective_end_to_end(form, estimator, k, temperature, generator):
    """logits -> per-copy likelihood -> estimator -> scalar loss, in float64."""
    objective = Objective(form=form, estimator=estimator, k=k, temperature=temperature)
    batch, num_classes = 3, 4
    logits = torch.randn(k * batch, num_classes, generator=generator, dtype=torch.float64)
    targets = mollified_copies(objective, batch, num_classes, generator, torch.float64)
    assert torch.autograd.gradcheck(lambda x: objective(x, targets), (logits.requires_grad_(),))
