"""Augmented-likelihood objectives (Sec. 3.1, 3.3-3.4, Appendices C-D of the paper).

- :mod:`~probmoll.likelihoods.forms` -- per-example likelihood forms on logits: soft-label
  cross-entropy, tempered categorical, normalized cross-entropy (``log_partition``),
  Dirichlet view.
- :mod:`~probmoll.likelihoods.estimators` -- estimators over ``(K, B)`` log-likelihoods of
  K augmented copies: Jensen, log-mean-exp, Durbin-Koopman, geometric; their registry
  :data:`ESTIMATORS`.
- :mod:`~probmoll.likelihoods.objective` -- ``LikelihoodConfig`` and the ``Objective`` loss;
  the registry of likelihood forms, :data:`LIKELIHOOD_FORMS`.
- :mod:`~probmoll.likelihoods.distributions` -- the forms as Pyro distributions.

See docs/likelihoods.md.
"""

from probmoll.likelihoods.distributions import (
    NormalizedSoftLabel,
    SoftLabelCategorical,
    TemperedCategorical,
    smoothed_one_hot,
)
from probmoll.likelihoods.estimators import (
    ESTIMATORS,
    EstimatorSpec,
    durbin_koopman,
    geometric,
    geometric_per_copy,
    get_estimator,
    get_estimator_spec,
    jensen,
    list_estimators,
    log_mean_exp,
    register_estimator,
)
from probmoll.likelihoods.forms import (
    dirichlet_log_likelihood,
    dirichlet_mode,
    log_expm1_ratio,
    log_partition,
    normalized_log_likelihood,
    soft_label_log_likelihood,
    tempered_log_likelihood,
)
from probmoll.likelihoods.objective import (
    LABEL_FORMS,
    LIKELIHOOD_FORMS,
    LikelihoodConfig,
    LikelihoodFormSpec,
    Objective,
    get_likelihood_form,
    list_likelihood_forms,
    register_likelihood_form,
)

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
