"""Augmented-likelihood objectives (Sec. 3.1, 3.3-3.4, Appendices C-D of the paper).

- :mod:`~probmoll.likelihoods.forms` -- per-example likelihood forms on logits: soft-label
  cross-entropy, tempered categorical, normalized cross-entropy (``log_partition``),
  Dirichlet view.
- :mod:`~probmoll.likelihoods.estimators` -- estimators over ``(K, B)`` log-likelihoods of
  K augmented copies: Jensen, log-mean-exp, Durbin-Koopman, geometric; their registry
  :data:`ESTIMATORS`.
- :mod:`~probmoll.likelihoods.catalog` -- the built-in forms and estimators as plain data
  (no torch).
- :mod:`~probmoll.likelihoods.config` -- ``LikelihoodConfig`` (no torch).
- :mod:`~probmoll.likelihoods.form_registry` -- the registry of likelihood forms,
  :data:`LIKELIHOOD_FORMS`.
- :mod:`~probmoll.likelihoods.objective` -- the ``Objective`` loss (and the names above).
- :mod:`~probmoll.likelihoods.distributions` -- the forms as Pyro distributions.

The names below are imported from their modules on first use (PEP 562), so that
``LikelihoodConfig`` is available without importing torch.

See docs/likelihoods.md.
"""

from __future__ import annotations

from probmoll.utils.lazy import lazy_exports

# Where each public name is defined (a module of this package).
_MODULES = {
    "distributions": (
        "NormalizedSoftLabel",
        "SoftLabelCategorical",
        "TemperedCategorical",
        "smoothed_one_hot",
    ),
    "estimators": (
        "ESTIMATORS",
        "EstimatorSpec",
        "durbin_koopman",
        "geometric",
        "geometric_per_copy",
        "get_estimator",
        "get_estimator_spec",
        "jensen",
        "list_estimators",
        "log_mean_exp",
        "register_estimator",
    ),
    "forms": (
        "dirichlet_log_likelihood",
        "dirichlet_mode",
        "log_expm1_ratio",
        "log_partition",
        "normalized_log_likelihood",
        "soft_label_log_likelihood",
        "tempered_log_likelihood",
    ),
    "config": ("LikelihoodConfig",),
    "form_registry": (
        "LABEL_FORMS",
        "LIKELIHOOD_FORMS",
        "LikelihoodFormSpec",
        "get_likelihood_form",
        "list_likelihood_forms",
        "register_likelihood_form",
    ),
    "objective": ("Objective",),
}
_SUBMODULES = ("catalog", *_MODULES)
_WHERE = {name: module for module, names in _MODULES.items() for name in names}

__all__ = [
    "ESTIMATORS",
    "LABEL_FORMS",
    "LIKELIHOOD_FORMS",
    "EstimatorSpec",
    "LikelihoodConfig",
    "LikelihoodFormSpec",
    "NormalizedSoftLabel",
    "Objective",
    "SoftLabelCategorical",
    "TemperedCategorical",
    "dirichlet_log_likelihood",
    "dirichlet_mode",
    "durbin_koopman",
    "geometric",
    "geometric_per_copy",
    "get_estimator",
    "get_estimator_spec",
    "get_likelihood_form",
    "jensen",
    "list_estimators",
    "list_likelihood_forms",
    "log_expm1_ratio",
    "log_mean_exp",
    "log_partition",
    "normalized_log_likelihood",
    "register_estimator",
    "register_likelihood_form",
    "smoothed_one_hot",
    "soft_label_log_likelihood",
    "tempered_log_likelihood",
]

__getattr__, __dir__ = lazy_exports(__name__, _WHERE, __all__, submodules=_SUBMODULES)
