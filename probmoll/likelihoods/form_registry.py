"""The registry of likelihood forms: :data:`LIKELIHOOD_FORMS` and its functions.

The built-in forms are registered from their metadata in
:mod:`probmoll.likelihoods.catalog`, with their functions from
:mod:`probmoll.likelihoods.forms`; :func:`register_likelihood_form` adds others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor

from probmoll.likelihoods.catalog import BUILTIN_FORMS, FORM_KIND, LABEL_FORMS
from probmoll.likelihoods.forms import normalized_log_likelihood, soft_label_log_likelihood
from probmoll.mollify.labels import LabelForm
from probmoll.utils.registry import Registry

__all__ = [
    "LABEL_FORMS",
    "LIKELIHOOD_FORMS",
    "LikelihoodFormSpec",
    "get_likelihood_form",
    "list_likelihood_forms",
    "register_likelihood_form",
]


@dataclass(frozen=True)
class LikelihoodFormSpec:
    """A registered likelihood form."""

    name: str
    # (logits (..., C), targets) -> log-likelihood (...)
    log_likelihood: Callable[[Tensor, Tensor], Tensor]
    # Label form the mollifier must produce for this likelihood: one of LABEL_FORMS.
    label_form: str
    # One line for listings and logs.
    description: str = ""


#: The registered likelihood forms, by name (:func:`register_likelihood_form`).
LIKELIHOOD_FORMS: Registry[LikelihoodFormSpec] = Registry(FORM_KIND)


def register_likelihood_form(
    name: str,
    log_likelihood: Callable[[Tensor, Tensor], Tensor],
    *,
    label_form: str,
    description: str = "",
) -> LikelihoodFormSpec:
    """Register a likelihood form under ``name``.

    Parameters
    ----------
    name : str
        Name in :data:`LIKELIHOOD_FORMS` (must be new: a taken name raises ValueError).
    log_likelihood : callable
        ``(logits (..., C), targets) -> (...)`` per-example log-likelihood.
    label_form : str or LabelForm
        The mollifier label form the targets must come from: one of :data:`LABEL_FORMS`
        (stored as the plain string).
    description : str
        One line shown by listings.
    """
    add = LIKELIHOOD_FORMS.register(name)  # a name that is not a non-empty str: TypeError
    try:
        label_form = LabelForm(label_form).value
    except ValueError:
        raise ValueError(
            f"unknown label_form {label_form!r}; valid: {', '.join(LABEL_FORMS)}"
        ) from None
    return add(LikelihoodFormSpec(name, log_likelihood, label_form, description))


def get_likelihood_form(name: str) -> LikelihoodFormSpec:
    """The :class:`LikelihoodFormSpec` registered under ``name``; an unknown name raises a
    ValueError listing the registered ones."""
    return LIKELIHOOD_FORMS.get(name)


def list_likelihood_forms() -> list[str]:
    """Names of the registered likelihood forms, sorted."""
    return LIKELIHOOD_FORMS.names()


# The function of each built-in form of the catalog.
_LOG_LIKELIHOODS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "smooth": soft_label_log_likelihood,
    "temper": soft_label_log_likelihood,
    "normalized": normalized_log_likelihood,
    "ce": soft_label_log_likelihood,
}
if set(_LOG_LIKELIHOODS) != {info.name for info in BUILTIN_FORMS}:
    raise RuntimeError("the built-in likelihood forms of catalog.py and their functions differ")
for _info in BUILTIN_FORMS:
    register_likelihood_form(
        _info.name,
        _LOG_LIKELIHOODS[_info.name],
        label_form=_info.label_form,
        description=_info.description,
    )
del _info
