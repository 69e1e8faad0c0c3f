"""What each image of a mini-batch draws: a role and a temperature (Sec. 4 "Mini-batching").

Each image independently draws a role -- clean, noise or blur -- and, unless clean, a
temperature ``t ~ Beta(alpha, beta)``; clean images get ``t = 0`` (docs/paper-readings.md,
reading 6). Everything is drawn from one ``torch.Generator`` with tensor operations only, so
that drawing never synchronises an accelerator with the host.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from probmoll.mollify.options import ROLE_NAMES, Role, check_positive, check_roles, check_weights

__all__ = [
    "ROLE_NAMES",
    "Role",
    "RoleSampler",
    "check_roles",
    "check_weights",
    "sample_beta",
    "sample_temperatures",
]


class RoleSampler:
    """Draws one role code per image, independently, from a categorical over roles.

    Parameters
    ----------
    roles : sequence of str
        Distinct role names (see :func:`check_roles`).
    weights : sequence of float, optional
        Relative probabilities of ``roles`` (see :func:`check_weights`); ``None`` draws
        uniformly.

    Attributes
    ----------
    codes : tuple of Role
        The roles, in the given order.
    """

    def __init__(self, roles: Sequence[str], weights: Sequence[float] | None = None) -> None:
        codes = tuple(Role[name.upper()] for name in roles)
        weights = tuple(weights) if weights is not None else (1.0,) * len(codes)
        total = math.fsum(weights)
        cumulative = [math.fsum(weights[: i + 1]) / total for i in range(len(weights) - 1)]
        self.codes = codes
        # Role of an image: codes[0] plus a step at every boundary its uniform draw passes.
        self._first_code = int(codes[0])
        self._steps = tuple(
            (boundary, int(after) - int(before))
            for boundary, before, after in zip(cumulative, codes[:-1], codes[1:], strict=True)
        )

    def __call__(
        self,
        batch_size: int,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """Role codes ``(batch_size,)``, ``int64``; a single role draws nothing."""
        roles = torch.full((batch_size,), self._first_code, dtype=torch.int64, device=device)
        if self._steps:
            uniform = torch.rand(batch_size, generator=generator, device=device)
            for boundary, step in self._steps:
                roles += (uniform >= boundary).to(torch.int64) * step
        return roles


def sample_beta(
    alpha: float,
    beta: float,
    shape: Sequence[int],
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Exact ``Beta(alpha, beta)`` samples drawn from ``generator``.

    ``torch.distributions.Beta.sample`` accepts no generator. Writing
    ``Beta(a, b) = G_a / (G_a + G_b)`` with ``G ~ Gamma(., 1)`` is exact for all
    ``a, b > 0``; the Gamma pair is drawn by ``torch._sample_dirichlet`` (the
    sampler behind ``torch.distributions.Beta``), which takes a generator on CPU
    and CUDA, needs no rejection loop on the host, and handles tiny
    concentrations where ``G_a + G_b`` underflows. A fixed-round Marsaglia-Tsang
    sampler built from ``randn``/``rand`` would either be inexact when all rounds
    reject or need a data-dependent loop (a host synchronisation).

    Parameters
    ----------
    alpha, beta : float
        Concentrations, ``> 0``.
    shape : sequence of int
        Shape of the sample.
    generator : torch.Generator, optional
        Random source; must live on ``device``.
    device, dtype
        Where and in which floating dtype (float32 or float64) to sample.

    Returns
    -------
    Tensor
        Samples in ``[0, 1]`` of the given shape.
    """
    alpha = check_positive("alpha", alpha)
    beta = check_positive("beta", beta)
    shape = tuple(shape)
    concentration = torch.stack(
        (
            torch.full(shape, alpha, dtype=dtype, device=device),
            torch.full(shape, beta, dtype=dtype, device=device),
        ),
        dim=-1,
    )
    return torch._sample_dirichlet(concentration, generator=generator)[..., 0]


def sample_temperatures(
    roles: torch.Tensor,
    alpha: float,
    beta: float,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """``t ~ Beta(alpha, beta)`` per image, and ``t = 0`` where the role is clean.

    Parameters
    ----------
    roles : Tensor
        Role codes (:class:`Role`), any shape; the result has the same shape and device.
    alpha, beta : float
        Concentrations, ``> 0``.
    generator : torch.Generator, optional
        Random source, on the device of ``roles``.
    dtype : torch.dtype, default float32
        Floating dtype of the temperatures.

    Returns
    -------
    Tensor
        Temperatures in ``[0, 1]``.
    """
    t = sample_beta(alpha, beta, roles.shape, generator=generator, device=roles.device, dtype=dtype)
    return torch.where(roles == Role.CLEAN, 0.0, t)
