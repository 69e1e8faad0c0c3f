"""LikelihoodConfig checks a configuration without torch; the catalog of built-ins matches
the registries; user entries still reach LikelihoodConfig."""

import textwrap

import pytest

from probmoll.likelihoods import (
    ESTIMATORS,
    LIKELIHOOD_FORMS,
    LikelihoodConfig,
    Objective,
    get_estimator_spec,
    get_likelihood_form,
    jensen,
    register_estimator,
    register_likelihood_form,
    soft_label_log_likelihood,
)
from probmoll.likelihoods.catalog import BUILTIN_ESTIMATORS, BUILTIN_FORMS, LABEL_FORMS
from probmoll.likelihoods.objective import LABEL_FORMS as OBJECTIVE_LABEL_FORMS
from probmoll.likelihoods.objective import LikelihoodConfig as ObjectiveLikelihoodConfig
from tests.helpers import run_python

SCRIPT = textwrap.dedent(
    """
    import sys

    from probmoll.likelihoods import LikelihoodConfig
    from probmoll.likelihoods.config import LikelihoodConfig as Config

    assert Config is LikelihoodConfig
    valid = [
        {},
        {"form": "temper", "estimator": "durbin_koopman", "k": 2},
        {"form": "ce", "estimator": "geometric", "k": 4, "temperature": 0.5},
        {"form": "normalized", "estimator": "log_mean_exp", "k": 3},
    ]
    for fields in valid:
        config = LikelihoodConfig(**fields)
        assert config.label_form in ("smooth", "temper", "none"), config
    invalid = [
        ({"form": "nope"}, ValueError, "unknown likelihood form 'nope'; valid: ce, normalized"),
        ({"estimator": "nope"}, ValueError, "unknown estimator 'nope'; valid: durbin_koopman"),
        ({"form": 3}, TypeError, "likelihood form name must be a non-empty str"),
        ({"estimator": ""}, TypeError, "estimator name must be a non-empty str"),
        ({"k": 0}, ValueError, "needs k >= 1 copies"),
        ({"k": 1.5}, TypeError, "k must be an int >= 1"),
        ({"estimator": "durbin_koopman", "k": 1}, ValueError, "needs k >= 2 copies"),
        ({"temperature": 0.0}, ValueError, "temperature must be finite and > 0"),
        ({"temperature": "1"}, TypeError, "temperature must be a float > 0"),
        (
            {"temperature": 0.5},
            ValueError,
            "has no effect with estimator 'jensen'; it applies to: geometric, geometric_per_copy",
        ),
    ]
    for fields, error, message in invalid:
        try:
            LikelihoodConfig(**fields)
        except error as raised:
            assert message in str(raised), (fields, str(raised))
        else:
            raise AssertionError(f"no {error.__name__} for {fields}")
    try:
        LikelihoodConfig.from_dict({"kk": 1})
    except ValueError as raised:
        assert "unknown likelihood config keys ['kk']" in str(raised)
    heavy = sorted(name for name in ("torch", "torchvision", "pyro") if name in sys.modules)
    assert not heavy, heavy
    print("ok")
    """
)


def test_likelihood_config_checks_without_importing_torch():
    result = run_python(SCRIPT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_the_config_of_objective_is_the_torch_free_one():
    assert ObjectiveLikelihoodConfig is LikelihoodConfig
    assert OBJECTIVE_LABEL_FORMS == LABEL_FORMS == ("smooth", "temper", "none")


def test_the_catalog_matches_the_registries():
    for info in BUILTIN_ESTIMATORS:
        spec = get_estimator_spec(info.name)
        assert (spec.name, spec.min_copies, spec.accepts_temperature) == (
            info.name,
            info.min_copies,
            info.accepts_temperature,
        )
    for info in BUILTIN_FORMS:
        spec = get_likelihood_form(info.name)
        assert (spec.name, spec.label_form, spec.description) == (
            info.name,
            info.label_form,
            info.description,
        )


@pytest.mark.parametrize("form", [info.name for info in BUILTIN_FORMS])
def test_specs_resolve_to_the_registered_entries(form):
    config = LikelihoodConfig(form=form, estimator="durbin_koopman", k=2)
    assert config.label_form == get_likelihood_form(form).label_form
    assert config.form_spec is get_likelihood_form(form)
    assert config.estimator_spec is get_estimator_spec("durbin_koopman")
    assert config == LikelihoodConfig(form=form, estimator="durbin_koopman", k=2)


def test_user_entries_reach_the_config():
    with ESTIMATORS.scoped(), LIKELIHOOD_FORMS.scoped():

        def cool(logp, *, dim=0, temperature=1.0):
            return jensen(logp, dim=dim) / temperature

        register_estimator("cool", cool, min_copies=3)
        register_likelihood_form("user_form", soft_label_log_likelihood, label_form="temper")
        with pytest.raises(ValueError, match="estimator 'cool' needs k >= 3 copies"):
            LikelihoodConfig(estimator="cool", k=2)
        with pytest.raises(ValueError, match="it applies to: cool, geometric, geometric_per"):
            LikelihoodConfig(temperature=2.0)
        with pytest.raises(ValueError, match="valid: ce, normalized, smooth, temper, user_form"):
            LikelihoodConfig(form="other")
        config = LikelihoodConfig(form="user_form", estimator="cool", k=3, temperature=2.0)
        assert config.label_form == "temper"
        assert config.estimator_spec.fn is cool
        assert Objective(config).label_form == "temper"
