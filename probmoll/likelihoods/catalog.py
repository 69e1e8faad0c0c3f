"""The built-in likelihood forms and estimators, as plain data (no torch).

Each built-in is declared here once, with the metadata a configuration needs to be checked:
an estimator's fewest copies per example and whether it takes a temperature, a form's label
form and description. The registries (:data:`~probmoll.likelihoods.estimators.ESTIMATORS`,
:data:`~probmoll.likelihoods.form_registry.LIKELIHOOD_FORMS`) register their built-in
entries from this metadata, adding the torch functions that compute them; user entries
(``register_estimator``, ``register_likelihood_form``) join the registries only.
:class:`~probmoll.likelihoods.config.LikelihoodConfig` checks a built-in name against the
catalogs below, without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from probmoll.mollify.options import LabelForm
from probmoll.utils.registry import Registry

__all__ = [
    "BUILTIN_ESTIMATORS",
    "BUILTIN_FORMS",
    "ESTIMATOR_CATALOG",
    "ESTIMATOR_KIND",
    "FORM_CATALOG",
    "FORM_KIND",
    "LABEL_FORMS",
    "EstimatorInfo",
    "FormInfo",
]

#: What the registries call their entries (the words of their error messages).
ESTIMATOR_KIND = "estimator"
FORM_KIND = "likelihood form"

#: The label forms of :class:`probmoll.mollify.Mollifier` (the values of
#: :class:`~probmoll.mollify.LabelForm`): which soft target a mollified image gets.
LABEL_FORMS: tuple[str, ...] = tuple(form.value for form in LabelForm)


@dataclass(frozen=True)
class EstimatorInfo:
    """What a configuration needs to know of an estimator (its function aside)."""

    name: str
    # Fewest copies per example the estimator is defined for.
    min_copies: int = 1
    # Whether its function takes a `temperature`.
    accepts_temperature: bool = False


@dataclass(frozen=True)
class FormInfo:
    """What a configuration needs to know of a likelihood form (its function aside)."""

    name: str
    # Label form the mollifier must produce for this likelihood: one of LABEL_FORMS.
    label_form: str
    # One line for listings and logs.
    description: str = ""


#: The built-in estimators (functions in :mod:`probmoll.likelihoods.estimators`).
BUILTIN_ESTIMATORS: tuple[EstimatorInfo, ...] = (
    EstimatorInfo("jensen"),
    EstimatorInfo("log_mean_exp"),
    EstimatorInfo("durbin_koopman", min_copies=2),
    EstimatorInfo("geometric", accepts_temperature=True),
    EstimatorInfo("geometric_per_copy", accepts_temperature=True),
)

#: The built-in likelihood forms (functions in :mod:`probmoll.likelihoods.forms`).
BUILTIN_FORMS: tuple[FormInfo, ...] = (
    FormInfo(
        "smooth",
        LabelForm.SMOOTH.value,
        "soft-label cross-entropy on smoothed targets (Eq. 8, 14-15); the default",
    ),
    FormInfo(
        "temper",
        LabelForm.TEMPER.value,
        "soft-label cross-entropy on tempered targets (Eq. 7), the tempered Eq. 9",
    ),
    FormInfo(
        "normalized",
        LabelForm.SMOOTH.value,
        "soft-label cross-entropy on smoothed targets minus log Z (Appendix C)",
    ),
    FormInfo("ce", LabelForm.NONE.value, "plain cross-entropy; targets are not mollified"),
)

#: The built-ins by name, answering an unknown name as the registries do.
ESTIMATOR_CATALOG: Registry[EstimatorInfo] = Registry(ESTIMATOR_KIND)
FORM_CATALOG: Registry[FormInfo] = Registry(FORM_KIND)
for _info in BUILTIN_ESTIMATORS:
    ESTIMATOR_CATALOG.add(_info.name, _info)
for _info in BUILTIN_FORMS:
    FORM_CATALOG.add(_info.name, _info)
del _info
