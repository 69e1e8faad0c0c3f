"""``LikelihoodConfig``: which likelihood form and estimator to train with (no torch).

A configuration is checked when it is made: names, copies per image and temperature. A
built-in name is checked against :mod:`probmoll.likelihoods.catalog`, without importing
torch. Another name is looked up in the registries (where ``register_likelihood_form`` and
``register_estimator`` put user entries); when a registry module was never imported,
nothing beyond the built-ins can have been registered, so the catalog answers for it (an
unknown name lists the valid ones either way). :attr:`LikelihoodConfig.form_spec` and
:attr:`LikelihoodConfig.estimator_spec` import the registries on first use.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from probmoll.likelihoods.catalog import ESTIMATOR_CATALOG, FORM_CATALOG, EstimatorInfo, FormInfo
from probmoll.utils.registry import Registry

if TYPE_CHECKING:
    from probmoll.likelihoods.estimators import EstimatorSpec
    from probmoll.likelihoods.form_registry import LikelihoodFormSpec

__all__ = ["LikelihoodConfig"]

_ESTIMATORS_MODULE = "probmoll.likelihoods.estimators"
_FORMS_MODULE = "probmoll.likelihoods.form_registry"


def _estimators() -> Registry:
    """The estimator registry if it is loaded, else the catalog of built-ins (all that
    could be registered before the registry's module is imported)."""
    if _ESTIMATORS_MODULE not in sys.modules:
        return ESTIMATOR_CATALOG
    from probmoll.likelihoods.estimators import ESTIMATORS

    return ESTIMATORS


def _forms() -> Registry:
    """The likelihood-form registry if it is loaded, else the catalog of built-ins."""
    if _FORMS_MODULE not in sys.modules:
        return FORM_CATALOG
    from probmoll.likelihoods.form_registry import LIKELIHOOD_FORMS

    return LIKELIHOOD_FORMS


def _look_up(name: Any, catalog: Registry, registry: Registry) -> Any:
    """The catalog entry of a built-in ``name``, else the registry's (which raises with the
    valid names for an unknown one, and a TypeError for a name that is not a str)."""
    return catalog.get(name) if name in catalog else registry.get(name)


@dataclass(frozen=True)
class LikelihoodConfig:
    """Which augmented-likelihood objective to train with.

    Plain strings select the form and the estimator; see
    :func:`~probmoll.likelihoods.list_likelihood_forms` and
    :func:`~probmoll.likelihoods.list_estimators`.
    """

    # Likelihood of one mollified copy: "smooth", "temper", "normalized" or "ce".
    form: str = "smooth"
    # How the K copies of an image combine: "jensen", "log_mean_exp", "durbin_koopman",
    # "geometric" or "geometric_per_copy".
    estimator: str = "jensen"
    # K, copies of each image per batch (each mollified independently); integer >= 1.
    k: int = 1
    # T of the geometric estimators (log-likelihood scaled by 1/T); must stay 1 otherwise.
    temperature: float = 1.0

    def __post_init__(self):
        form = _look_up(self.form, FORM_CATALOG, _forms())  # raises with the valid names
        estimators = _estimators()
        estimator = _look_up(self.estimator, ESTIMATOR_CATALOG, estimators)
        if isinstance(self.k, bool) or not isinstance(self.k, int):
            raise TypeError(f"k must be an int >= 1, got {self.k!r}")
        if self.k < estimator.min_copies:
            raise ValueError(
                f"estimator {estimator.name!r} needs k >= {estimator.min_copies} copies per "
                f"image, got k={self.k}"
            )
        if isinstance(self.temperature, bool) or not isinstance(self.temperature, (int, float)):
            raise TypeError(f"temperature must be a float > 0, got {self.temperature!r}")
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ValueError(f"temperature must be finite and > 0, got {self.temperature!r}")
        if self.temperature != 1 and not estimator.accepts_temperature:
            tempered = [
                name for name in estimators.names() if estimators.get(name).accepts_temperature
            ]
            raise ValueError(
                f"temperature={self.temperature!r} has no effect with estimator "
                f"{estimator.name!r}; it applies to: {', '.join(tempered)}"
            )
        # Store the registry's plain strings (a str Enum member would also have matched).
        object.__setattr__(self, "form", form.name)
        object.__setattr__(self, "estimator", estimator.name)
        object.__setattr__(self, "temperature", float(self.temperature))
        # The entries, resolved here (not dataclass fields: they take no part in equality,
        # repr or the YAML form of the config): the catalog's metadata of a built-in, which
        # form_spec / estimator_spec replace with the registered spec on first use.
        object.__setattr__(self, "_form_spec", form)
        object.__setattr__(self, "_estimator_spec", estimator)

    @property
    def label_form(self) -> str:
        """The :class:`~probmoll.mollify.Mollifier` ``label_form`` of :attr:`form` (without
        importing the registries for a built-in form)."""
        return self._form_spec.label_form

    @property
    def form_spec(self) -> LikelihoodFormSpec:
        """The registered :class:`~probmoll.likelihoods.form_registry.LikelihoodFormSpec` of
        :attr:`form` (imports the registry, and torch, on first use)."""
        spec = self._form_spec
        if isinstance(spec, FormInfo):
            from probmoll.likelihoods.form_registry import get_likelihood_form

            spec = get_likelihood_form(self.form)
            object.__setattr__(self, "_form_spec", spec)
        return spec

    @property
    def estimator_spec(self) -> EstimatorSpec:
        """The registered :class:`~probmoll.likelihoods.estimators.EstimatorSpec` of
        :attr:`estimator` (imports the registry, and torch, on first use)."""
        spec = self._estimator_spec
        if isinstance(spec, EstimatorInfo):
            from probmoll.likelihoods.estimators import get_estimator_spec

            spec = get_estimator_spec(self.estimator)
            object.__setattr__(self, "_estimator_spec", spec)
        return spec

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> LikelihoodConfig:
        """Build from a mapping (e.g. a YAML section); unknown keys are an error."""
        fields = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - fields)
        if unknown:
            raise ValueError(f"unknown likelihood config keys {unknown}; valid: {sorted(fields)}")
        return cls(**values)
