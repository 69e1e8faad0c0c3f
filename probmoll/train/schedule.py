"""The learning-rate schedule of a run: linear warm-up, then cosine annealing."""

from __future__ import annotations

import math

__all__ = ["WarmupCosine"]


class WarmupCosine:
    """Learning-rate factor: linear warm-up, then cosine annealing to ``min_ratio``.

    ``factor(step) = (step + 1) / warmup`` during warm-up, then
    ``min_ratio + (1 - min_ratio) (1 + cos(pi progress)) / 2`` with ``progress`` going
    from 0 to 1 over the remaining steps (Loshchilov and Hutter, 2016). A plain
    object, so :class:`torch.optim.lr_scheduler.LambdaLR` saves it in its state.
    """

    def __init__(self, total_steps: int, warmup_steps: int, min_ratio: float, cosine: bool):
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.min_ratio = float(min_ratio)
        self.cosine = bool(cosine)

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        if not self.cosine:
            return 1.0
        span = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / span)
        return self.min_ratio + (1.0 - self.min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
