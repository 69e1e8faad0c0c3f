"""The paper's claims, and the paired contrasts between settings that test them.

A contrast compares two settings of one grid axis (a reference and a variant) run by
run on the same seed, everything else equal; the claims say which way the difference
should go. Imported by ``experiments/report.py`` as ``experiments.claims``, with the
repository on ``sys.path``.

:data:`STUDY_CLAIMS` lists every claim of the paper that the study grids
(``experiments/study.py``) test, each with the comparisons that test it;
:func:`paired_verdict` is the rule that turns paired differences into "agrees",
"disagrees" or "cannot tell" (:data:`VERDICT_RULE` states it in words for the report).
``experiments/claim_checks.py`` applies them to runs.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from experiments.runs import Run
    from probmoll.train.sweep import SweepSpec

__all__ = [
    "AGREES",
    "CANNOT_TELL",
    "DISAGREES",
    "EXTRA_CONTRASTS",
    "MARGINS",
    "NOT_RUN",
    "STUDY_CLAIMS",
    "VERDICT_RULE",
    "Comparison",
    "StudyClaim",
    "combine_verdicts",
    "paired_verdict",
    "MOLLIFICATION_CLAIMS",
    "MOLLIFICATION_CONTRASTS",
    "OBJECTIVE_CLAIMS",
    "REFERENCE_LABELS",
    "Contrast",
    "claim_verdict",
    "contrasts",
    "switches_mollification_on",
]

# For each grid axis, the setting the others are compared against (paired by seed).
REFERENCE_LABELS = {
    "mollify.enabled": "false",
    "mollification": "none",
    "objective": "ce-nomoll",
    "ablation": "default",
}
# Further contrasts within an axis: (reference, variant, what the difference measures).
EXTRA_CONTRASTS = {
    "objective": (
        ("ce-nomoll", "smooth-jensen-k1", "data mollification with the paper's default objective"),
        ("ce-moll", "smooth-jensen-k1", "label smoothing coupled to mollified inputs"),
        ("smooth-jensen-k1", "temper-jensen-k1", "tempered instead of smoothed labels (Eq. 7)"),
        ("smooth-jensen-k1", "normalized-jensen-k1", "Appendix C normalizer"),
        ("smooth-jensen-k1", "smooth-jensen-k4", "K = 4 copies per image at equal compute"),
        ("smooth-jensen-k4", "smooth-lme-k4", "log-mean-exp instead of Jensen (Eq. 19 vs 22)"),
        ("smooth-lme-k4", "smooth-dk-k4", "Durbin-Koopman bias correction (Appendix D)"),
        ("smooth-jensen-k4", "smooth-geom-k4-T1", "geometric T = 1 (equal to Jensen)"),
        ("smooth-jensen-k4", "smooth-geom-k4-T0.5", "geometric, cold T = 0.5"),
    ),
}
# Contrasts that switch data mollification on (reference -> variant), given as
# (axis, reference, variant) with None for any label: they get the per-corruption table
# of differences (Table 4) and the check of the paper's claims.
MOLLIFICATION_CONTRASTS = (
    ("mollify.enabled", "false", "true"),
    ("mollification", "none", None),
    ("objective", "ce-nomoll", "smooth-jensen-k1"),
)
# The paper's claims about adding mollification, checked on every mollification on/off
# pair: (difference key, expected sign of on - off, claim, where the paper says it).
MOLLIFICATION_CLAIMS = (
    ("corrupted.mean.error", -1, "corrupted error decreases", "Sec. 4.1, Table 1"),
    ("gap.error", -1, "the clean-corrupted error gap narrows", "Sec. 4.1, Fig. 5"),
    ("corrupted.mean.nll", -1, "corrupted NLL decreases", "Sec. 4.1, Fig. 5(b)"),
    ("corrupted.mean.ece", -1, "corrupted ECE decreases (by 20-40%)", "Sec. 4.1"),
    ("clean.error", +1, "clean error rises (slightly, on CIFAR)", "Sec. 4.1, Table 1"),
)


# The paper's statements about its alternative objectives (Sec. 5, Appendices C and D:
# they "did not lead to improvements"), checked on the objective grids:
# (reference, variant, metric, expected sign of variant - reference, claim, where).
OBJECTIVE_CLAIMS = (
    (
        "smooth-jensen-k1",
        "normalized-jensen-k1",
        "corrupted.mean.error",
        +1,
        "the normalized likelihood does not lower corrupted error",
        "Sec. 5, Appendix C",
    ),
    (
        "smooth-jensen-k1",
        "normalized-jensen-k1",
        "clean.error",
        +1,
        "the normalized likelihood does not lower clean error",
        "Sec. 5, Appendix C",
    ),
    (
        "smooth-lme-k4",
        "smooth-dk-k4",
        "corrupted.mean.error",
        +1,
        "the bias correction does not lower corrupted error",
        "Sec. 5, Appendix D",
    ),
    (
        "smooth-lme-k4",
        "smooth-dk-k4",
        "clean.error",
        +1,
        "the bias correction does not lower clean error",
        "Sec. 5, Appendix D",
    ),
)


@dataclass(frozen=True)
class Contrast:
    """Paired differences ``variant - reference`` over the seeds both of them finished.

    Parameters
    ----------
    axis : str
        The grid axis the two settings differ on.
    reference, variant : str
        The two labels on ``axis``.
    context : tuple of (str, str)
        The other axes' labels (seeds excluded), equal for both settings.
    pairs : tuple of (Run, Run)
        ``(reference run, variant run)``, one per seed.
    meaning : str, default ""
        What the difference measures; empty for a plain comparison with the reference.
    """

    axis: str
    reference: str
    variant: str
    context: tuple[tuple[str, str], ...]
    pairs: tuple[tuple[Run, Run], ...]
    meaning: str = ""

    def differences(self, key: str) -> list[float]:
        """``variant - reference`` of metric ``key``, one per seed where both have it."""
        out = []
        for reference, variant in self.pairs:
            a, b = reference.value(key), variant.value(key)
            if a is not None and b is not None:
                out.append(b - a)
        return out


def contrasts(spec: SweepSpec, runs: Sequence[Run]) -> list[Contrast]:
    """Every setting against the reference of its axis, plus the extra contrasts."""
    over = spec.over
    found = []
    for axis in spec.axes:
        if axis == over:
            continue
        labels = list(dict.fromkeys(run.labels[axis] for run in runs))
        wanted: dict[tuple[str, str], str] = {}  # (reference, variant) -> meaning
        reference = REFERENCE_LABELS.get(axis)
        if reference in labels:
            wanted.update({(reference, label): "" for label in labels if label != reference})
        for ref, variant, meaning in EXTRA_CONTRASTS.get(axis, ()):
            if ref in labels and variant in labels:
                wanted[(ref, variant)] = meaning
        others = [a for a in spec.axes if a not in (axis, over)]
        for context in dict.fromkeys(tuple(run.labels[a] for a in others) for run in runs):
            for (ref, variant), meaning in wanted.items():
                pairs = _pair_by_seed(
                    runs, axis, ref, variant, dict(zip(others, context, strict=True)), over
                )
                if pairs:
                    found.append(
                        Contrast(
                            axis,
                            ref,
                            variant,
                            tuple(zip(others, context, strict=True)),
                            pairs,
                            meaning,
                        )
                    )
    return found


def _pair_by_seed(
    runs: Sequence[Run],
    axis: str,
    reference: str,
    variant: str,
    context: Mapping[str, str],
    over: str | None,
) -> tuple[tuple[Run, Run], ...]:
    def matching(label: str) -> dict[str, Run]:
        chosen = [
            r
            for r in runs
            if r.labels[axis] == label and all(r.labels[a] == v for a, v in context.items())
        ]
        return {(r.labels[over] if over else ""): r for r in chosen}

    a, b = matching(reference), matching(variant)
    return tuple((a[seed], b[seed]) for seed in a if seed in b)


def switches_mollification_on(contrast: Contrast) -> bool:
    """Whether the contrast is data mollification off (reference) against on (variant)."""
    return any(
        contrast.axis == axis
        and contrast.reference == reference
        and variant in (None, contrast.variant)
        for axis, reference, variant in MOLLIFICATION_CONTRASTS
    )


def claim_verdict(differences: Sequence[float], expected_sign: int) -> str:
    """Whether paired differences go the way a claim says, seed by seed.

    Parameters
    ----------
    differences : sequence of float
        Paired differences, one per seed.
    expected_sign : int
        +1 or -1: the sign the claim expects of every difference.

    Returns
    -------
    str
        ``"yes (n/n seeds)"``, ``"no ..."``, ``"mixed (k/n seeds)"`` or ``"no data"``.
    """
    if not differences:
        return "no data"
    agree = sum(1 for d in differences if d * expected_sign > 0)
    n = len(differences)
    if agree == n:
        return f"yes ({agree}/{n} seeds)"
    if agree == 0:
        return f"no ({n}/{n} seeds go the other way)" if n > 1 else "no"
    return f"mixed ({agree}/{n} seeds)"


# ------------------------------------------------------------------- study claims
AGREES, DISAGREES, CANNOT_TELL, NOT_RUN = "agrees", "disagrees", "cannot tell", "not run yet"
# The difference a single seed must reach before it counts (metric -> its unit in
# metrics.json: fractions for error and ECE, nats for NLL).
MARGINS = {"error": 0.02, "ece": 0.02, "nll": 0.1}
VERDICT_RULE = (
    "For each comparison, d = variant - reference on the same seed. With n >= 2 seeds, "
    "mean(d) and its standard error SE = sd(d) / sqrt(n): the result **agrees** with the "
    "claim when mean(d) lies at least 2 SE on the claimed side of zero and every seed's d "
    "has the claimed sign, **disagrees** when the same holds on the other side, and "
    "otherwise **cannot tell**. With one seed the training noise is unknown: the result "
    "agrees or disagrees only when |d| reaches a large margin (2 percentage points of "
    'error or ECE, 0.1 nats of NLL), else it cannot tell. A bound ("rises by at most '
    'B") is the claim d - B < 0. A "does not help" claim (the variant is not '
    "better) disagrees when the variant is lower by the rule above, agrees when it is "
    "higher by it or, with n >= 2 seeds, when no improvement is detectable; a claim "
    "tested by several comparisons agrees when all agree and disagrees when one does."
)


@dataclass(frozen=True)
class Comparison:
    """``variant - reference`` of one metric on one axis of a study's grids, by seed.

    Parameters
    ----------
    study : str
        The study key of ``experiments.study.STUDY_GRIDS`` whose grids hold the runs.
    axis, reference, variant : str
        The grid axis and the two labels compared.
    metric : str
        The ``metrics.json`` key compared.
    context : tuple of (str, str)
        Labels both runs must have on other axes (e.g. ``(("augment", "fcr"),)``).
    """

    study: str
    axis: str
    reference: str
    variant: str
    metric: str
    context: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class StudyClaim:
    """A claim of the paper and the comparisons of the study grids that test it.

    Parameters
    ----------
    claim, where : str
        The claim in words and where the paper makes it.
    comparisons : tuple of Comparison
        All must go the claimed way.
    expect : {"lower", "higher", "not lower", "at most"}
        What the claim says of ``variant - reference``.
    bound : float
        For ``"at most"``: the largest difference the claim allows (metric units).
    paper : tuple
        Where the paper's own number comes from (``experiments/claim_checks.py``):
        ``("table5", augment)`` (on - off of Table 5), ``("table2", reference, variant)``
        (Table 2's rows) or ``("text", key)`` (a statement of ``figures`` in
        ``paper_reference.yaml``).
    """

    claim: str
    where: str
    comparisons: tuple[Comparison, ...]
    expect: str
    bound: float = 0.0
    paper: tuple[str, ...] = ()


def _mollification(augment: str, *metrics: str) -> tuple[Comparison, ...]:
    context = (("augment", augment),)
    return tuple(
        Comparison("table1", "mollify.enabled", "false", "true", m, context) for m in metrics
    )


def _per_augmentation() -> tuple[StudyClaim, ...]:
    claims = []
    for augment in ("fcr", "fcr+trivaug"):
        label = "FCR" if augment == "fcr" else "FCR+TrivAug"
        where = "Sec. 4.1, Tables 1 and 5, Fig. 5"
        for metric, what in (
            ("corrupted.mean.error", "corrupted error"),
            ("corrupted.mean.nll", "corrupted NLL"),
            ("corrupted.mean.ece", "corrupted ECE"),
        ):
            claims.append(
                StudyClaim(
                    f"mollification lowers {what} ({label})",
                    where,
                    _mollification(augment, metric),
                    "lower",
                    paper=("table5", augment),
                )
            )
        claims.append(
            StudyClaim(
                f"the clean error rises by at most 2 percentage points ({label})",
                'Sec. 4.1 ("may in some cases slightly degrade the accuracy on clean data")',
                _mollification(augment, "clean.error"),
                "at most",
                bound=0.02,
                paper=("table5", augment),
            )
        )
        claims.append(
            StudyClaim(
                f"weather and digital corruptions improve, though never trained on ({label})",
                "Sec. 4.2",
                _mollification(
                    augment,
                    "corrupted.by_category.weather.error",
                    "corrupted.by_category.digital.error",
                ),
                "lower",
                paper=("table2", "none", "diff+blur"),
            )
        )
    return tuple(claims)


def _roles(reference: str, variant: str, metric: str) -> Comparison:
    return Comparison("table2", "mollification", reference, variant, metric)


def _ablation(reference: str, variant: str) -> Comparison:
    return Comparison("fig6", "ablation", reference, variant, "corrupted.mean.error")


def _objective(reference: str, variant: str) -> tuple[Comparison, ...]:
    return tuple(
        Comparison("objectives", "objective", reference, variant, metric)
        for metric in ("corrupted.mean.error", "clean.error")
    )


STUDY_CLAIMS: tuple[StudyClaim, ...] = (
    *_per_augmentation(),
    StudyClaim(
        "noise mollification lowers noise-corruption error more than blur mollification",
        "Sec. 4.2, Table 2, Fig. 6(a)",
        (_roles("blur", "diffusion", "corrupted.by_category.noise.error"),),
        "lower",
        paper=("table2",),
    ),
    StudyClaim(
        "blur mollification lowers blur-corruption error more than noise mollification",
        "Sec. 4.2, Table 2, Figs. 6(a) and 8",
        (_roles("diffusion", "blur", "corrupted.by_category.blur.error"),),
        "lower",
        paper=("table2",),
    ),
    StudyClaim(
        "combining noise and blur beats either alone (corrupted error)",
        "Sec. 4.2, Fig. 6(a)",
        (
            _roles("diffusion", "diff+blur", "corrupted.mean.error"),
            _roles("blur", "diff+blur", "corrupted.mean.error"),
        ),
        "lower",
        paper=("table2",),
    ),
    StudyClaim(
        "less mollification (beta = 4, 8 instead of 2) raises corrupted error",
        "Sec. 4.2, Fig. 6(b)",
        (_ablation("default", "beta-4"), _ablation("default", "beta-8")),
        "higher",
        paper=("text", "fig6b"),
    ),
    StudyClaim(
        "beta = 2 is best: beta = 1 raises corrupted error too",
        "Sec. 4.2, Fig. 6(b)",
        (_ablation("default", "beta-1"),),
        "higher",
        paper=("text", "fig6b"),
    ),
    StudyClaim(
        "label decay k <= 1 is better: k = 2 raises corrupted error over k = 1 and k = 0.5",
        "Sec. 4.2, Fig. 6(c)",
        (_ablation("default", "k-2"), _ablation("k-0.5", "k-2")),
        "higher",
        paper=("text", "fig6c"),
    ),
    StudyClaim(
        "the normalized likelihood does not help (clean and corrupted error)",
        "Sec. 5, Appendix C",
        _objective("smooth-jensen-k1", "normalized-jensen-k1"),
        "not lower",
        paper=("text", "appendix_c"),
    ),
    StudyClaim(
        "the bias-corrected estimator does not help (clean and corrupted error)",
        "Sec. 5, Appendix D",
        _objective("smooth-lme-k4", "smooth-dk-k4"),
        "not lower",
        paper=("text", "appendix_d"),
    ),
)


def _sign(differences: Sequence[float], margin: float) -> int:
    """+1 when the differences are surely positive by the rule, -1 surely negative, else 0."""
    mean = statistics.fmean(differences)
    if len(differences) == 1:
        return int(mean >= margin) - int(mean <= -margin)
    se = statistics.stdev(differences) / math.sqrt(len(differences))
    if mean >= 2 * se and all(d > 0 for d in differences):
        return 1
    if mean <= -2 * se and all(d < 0 for d in differences):
        return -1
    return 0


def paired_verdict(
    differences: Sequence[float], expect: str, *, margin: float, bound: float = 0.0
) -> str:
    """The verdict of :data:`VERDICT_RULE` on paired differences ``variant - reference``.

    Parameters
    ----------
    differences : sequence of float
        One per seed.
    expect : {"lower", "higher", "not lower", "at most"}
        The claim about the differences.
    margin : float
        The difference one seed must reach (:data:`MARGINS`).
    bound : float
        ``"at most"``: the largest difference the claim allows.
    """
    if not differences:
        return NOT_RUN
    if expect == "at most":
        return paired_verdict([d - bound for d in differences], "lower", margin=margin)
    sign = _sign(differences, margin)
    if expect in ("lower", "higher"):
        wanted = -1 if expect == "lower" else 1
        return AGREES if sign == wanted else DISAGREES if sign == -wanted else CANNOT_TELL
    if expect == "not lower":
        if sign == -1:
            return DISAGREES
        return AGREES if sign == 1 or len(differences) > 1 else CANNOT_TELL
    raise ValueError(f"expect must be lower, higher, not lower or at most; got {expect!r}")


def combine_verdicts(verdicts: Sequence[str]) -> str:
    """One verdict for a claim tested by several comparisons (see :data:`VERDICT_RULE`)."""
    if not verdicts or all(v == NOT_RUN for v in verdicts):
        return NOT_RUN
    if DISAGREES in verdicts:
        return DISAGREES
    return AGREES if all(v == AGREES for v in verdicts) else CANNOT_TELL
