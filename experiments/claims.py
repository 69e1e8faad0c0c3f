"""The paper's claims, and the paired contrasts between settings that test them.

A contrast compares two settings of one grid axis (a reference and a variant) run by
run on the same seed, everything else equal; the claims say which way the difference
should go. Imported by ``experiments/report.py`` as ``experiments.claims``, with the
repository on ``sys.path``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from experiments.runs import Run
    from probmoll.train.sweep import SweepSpec

__all__ = [
    "EXTRA_CONTRASTS",
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
