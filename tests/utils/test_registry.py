"""probmoll.utils.registry.Registry, and that every registry of probmoll is one."""

import pytest

from probmoll.data.registry import DATASETS
from probmoll.likelihoods.estimators import ESTIMATORS
from probmoll.likelihoods.objective import LIKELIHOOD_FORMS
from probmoll.models.registry import MODELS
from probmoll.utils.registry import Registry


def make_registry(**kwargs) -> Registry:
    registry = Registry("widget", **kwargs)
    registry.add("b", 2)
    registry.add("a", 1)
    return registry


def test_add_get_names_contains():
    registry = make_registry()
    assert registry.get("a") == 1 and registry.get("b") == 2
    assert registry.names() == ["a", "b"] == list(registry)
    assert "a" in registry and "c" not in registry and 3 not in registry
    assert len(registry) == 2


def test_decorator_registers_and_returns_the_entry():
    registry = Registry("function")

    @registry.register("double")
    def double(x):
        return 2 * x

    assert registry.get("double") is double and double(2) == 4


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown widget 'c'; valid: a, b"):
        make_registry().get("c")
    with pytest.raises(ValueError, match=r"unknown widget 'c'; known widgets: a, b"):
        make_registry(listing="known widgets").get("c")


@pytest.mark.parametrize("name", [None, "", 3, ("a",)])
def test_names_must_be_non_empty_strings(name):
    with pytest.raises(TypeError, match="widget name must be a non-empty str"):
        make_registry().get(name)
    with pytest.raises(TypeError, match="widget name must be a non-empty str"):
        Registry("widget").register(name)


def test_a_name_is_taken_once_but_the_same_entry_may_be_added_again():
    registry = make_registry()
    registry.add("a", registry.get("a"))
    with pytest.raises(ValueError, match="widget 'a' is already registered"):
        registry.add("a", object())


def test_case_insensitive_registry_stores_lower_case():
    registry = Registry("dataset", case_sensitive=False)
    registry.add("CIFAR", 1)
    assert registry.get("cifar") == registry.get("Cifar") == 1
    assert registry.names() == ["cifar"]


def test_scoped_restores_the_entries():
    registry = make_registry()
    with registry.scoped():
        registry.add("c", 3)
        assert "c" in registry
    assert registry.names() == ["a", "b"]
    with pytest.raises(RuntimeError), registry.scoped():
        registry.add("d", 4)
        raise RuntimeError
    assert "d" not in registry


@pytest.mark.parametrize("registry", [DATASETS, MODELS, ESTIMATORS, LIKELIHOOD_FORMS])
def test_every_registry_of_probmoll_is_a_registry(registry):
    assert isinstance(registry, Registry) and len(registry) >= 2
