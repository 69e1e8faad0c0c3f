"""Cost of mini-batch mollification next to a training step, and of our DCT blur.

Claims:

1. Mollifying a batch -- per-image roles and ``t ~ Beta(1, 2)``, noise, heat blur and
   label smoothing, all of :class:`probmoll.mollify.Mollifier` -- costs at most 2% of one
   SGD step of a width-16 preact-ResNet-18 on the same 128 x 3 x 32 x 32 batch
   ("mollification incurs a negligible running time increase", paper Sec. 4).
2. :func:`probmoll.mollify.heat_blur` (per-image separable blur matrices) is at least as
   fast as the DCT round trip of the authors' code, ``torch_dct.LinearDCT`` layers
   (an ``nn.Linear`` holding the DCT matrix, applied to each axis), with the same
   per-image filter ``exp(-tau Lambda)``. ``torch-dct`` is used when installed;
   otherwise the same ``nn.Linear`` construction is rebuilt here from the DCT matrix
   (the output says which one ran).
3. The whole batch mollification costs no more than the authors' pipeline, rebuilt
   here from its description (docs/paper-readings.md, pitfalls; our code, not theirs): roles
   drawn with numpy's global RNG, ``t ~ Beta(1, 2)`` from ``torch.distributions``,
   boolean-mask indexing to gather and scatter the noised and the blurred subsets
   (each a host synchronisation on an accelerator), the ``LinearDCT`` blur of claim 2
   on the blurred subset, and label smoothing of ``F.one_hot`` targets.

Measured side by side in one run (interleaved rounds, median of many repeats):
``mollify`` (whole Mollifier call), ``authors-mollify`` (claim 3), ``blur`` (ours) and
``blur-lineardct`` on the same per-image scales, and ``sgd-step`` (forward +
soft-target cross-entropy + backward + SGD step, float32).

Run: ``PYTHONPATH=. python benchmarks/bench_mollify.py [--device cuda] [--threads 2]``
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from probmoll.models import create_model
from probmoll.mollify import Mollifier, dct_matrix, heat_blur, sample_beta, sigma_blur
from probmoll.mollify.dct import laplacian_eigenvalues


def linear_dct_layers(size: int, device: torch.device) -> tuple[nn.Linear, nn.Linear, str]:
    """DCT and inverse DCT as ``nn.Linear`` layers (the authors' ``LinearDCT``).

    Returns the two layers and which implementation ran: ``torch_dct.LinearDCT`` when
    the ``torch-dct`` package is importable, else our ``nn.Linear`` holding the matrix.
    """
    try:
        import torch_dct

        forward = torch_dct.LinearDCT(size, "dct", norm="ortho")
        inverse = torch_dct.LinearDCT(size, "idct", norm="ortho")
        source = "torch_dct.LinearDCT"
    except ImportError:
        matrix = dct_matrix(size, torch.device("cpu"), torch.float32)
        forward = nn.Linear(size, size, bias=False)
        inverse = nn.Linear(size, size, bias=False)
        with torch.no_grad():
            forward.weight.copy_(matrix)  # y = x W^T = x V: DCT along the last axis
            inverse.weight.copy_(matrix.T)
        source = "nn.Linear(DCT matrix)"
    for layer in (forward, inverse):
        layer.weight.requires_grad_(False)
    return forward.to(device), inverse.to(device), source


def apply_linear_2d(x: torch.Tensor, layer: nn.Linear) -> torch.Tensor:
    """The layer on the last axis, then on the second-to-last (as in torch_dct)."""
    return layer(layer(x).transpose(-1, -2)).transpose(-1, -2)


def lineardct_blur(x, sigma, forward, inverse, squared_frequencies):
    """Eq. 5 the authors' way: DCT round trip with a per-image (H, W) filter."""
    tau = (sigma**2 / 2).reshape(-1, 1, 1, 1)
    coefficients = apply_linear_2d(x, forward)
    return apply_linear_2d(coefficients * torch.exp(-tau * squared_frequencies), inverse)


def authors_mollify(
    x: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    forward: nn.Linear,
    inverse: nn.Linear,
    squared_frequencies: torch.Tensor,
    sigma_min: float = 0.3,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One mini-batch mollified the way the authors' code does it (docs/paper-readings.md,
    pitfalls).

    Same maths as :class:`~probmoll.mollify.Mollifier` with default settings (roles
    uniform over clean/noise/blur, ``t ~ Beta(1, 2)``, Eq. 4 noise, Eqs. 5-6 blur with
    ``sigma_max = W``, Eqs. 8/12/13 label smoothing), different mechanics: a numpy
    draw copied to the device, boolean masks that gather each subset and scatter it
    back, and the ``LinearDCT`` blur.
    """
    batch, device = x.shape[0], x.device
    # The authors' draw: numpy's global (legacy) RNG, unrelated to torch's seeds.
    roles = torch.from_numpy(np.random.randint(0, 3, size=batch)).to(device)  # noqa: NPY002
    t = torch.distributions.Beta(
        torch.tensor(1.0, device=device), torch.tensor(2.0, device=device)
    ).sample((batch,))
    noised, blurred = roles == 1, roles == 2
    out = x.clone()
    gamma = torch.zeros(batch, device=device)

    t_noise = t[noised]
    angle = (t_noise * (torch.pi / 2)).view(-1, 1, 1, 1)
    x_noise = out[noised]
    out[noised] = torch.cos(angle) * x_noise + torch.sin(angle) * torch.randn_like(x_noise)
    gamma[noised] = torch.sin(t_noise * (torch.pi / 2)) ** 2

    t_blur = t[blurred]
    log_min, log_max = np.log(sigma_min), np.log(x.shape[-1])
    sigma = torch.exp((1 - t_blur) * log_min + t_blur * log_max)
    out[blurred] = lineardct_blur(out[blurred], sigma, forward, inverse, squared_frequencies)
    gamma[blurred] = t_blur

    onehot = F.one_hot(y, num_classes).float()
    targets = (1 - gamma).unsqueeze(1) * onehot + gamma.unsqueeze(1) / num_classes
    return out, targets


def median_seconds(samples: list[float]) -> float:
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=15, help="interleaved timing rounds")
    parser.add_argument("--repeats", type=int, default=20, help="mollify/blur calls per round")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    size, batch_size, num_classes = args.image_size, args.batch_size, 10

    def synchronize() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    generator = torch.Generator(device=device).manual_seed(0)
    x = torch.randn(batch_size, 3, size, size, device=device, generator=generator)
    y = torch.randint(0, num_classes, (batch_size,), device=device, generator=generator)

    mollifier = Mollifier(num_classes=num_classes)
    t = sample_beta(1.0, 2.0, (batch_size,), generator=generator, device=device)
    sigma = sigma_blur(t, 0.3, float(size))
    forward, inverse, source = linear_dct_layers(size, device)
    frequencies = laplacian_eigenvalues(size, device, torch.float32)
    squared_frequencies = frequencies[:, None] + frequencies[None, :]

    # The two blurs must agree before their speeds are compared.
    difference = (
        (heat_blur(x, sigma) - lineardct_blur(x, sigma, forward, inverse, squared_frequencies))
        .abs()
        .max()
        .item()
    )

    np.random.seed(0)  # noqa: NPY002 -- the global RNG authors_mollify draws roles from
    authors_x, authors_y = authors_mollify(x, y, num_classes, forward, inverse, squared_frequencies)
    ours = mollifier(x, y, generator)
    assert authors_x.shape == ours.x.shape and authors_y.shape == ours.y.shape
    torch.testing.assert_close(authors_y.sum(1), torch.ones(batch_size, device=device))

    model = create_model("preact_resnet18_w16", num_classes, in_channels=3, image_size=size)
    model = model.to(device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    targets = mollifier(x, y, generator).y

    def sgd_step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), targets)
        loss.backward()
        optimizer.step()

    workloads = {
        "mollify": lambda: mollifier(x, y, generator),
        "authors-mollify": lambda: authors_mollify(
            x, y, num_classes, forward, inverse, squared_frequencies
        ),
        "blur": lambda: heat_blur(x, sigma, validate=False),
        "blur-lineardct": lambda: lineardct_blur(x, sigma, forward, inverse, squared_frequencies),
    }
    samples: dict[str, list[float]] = {name: [] for name in [*workloads, "sgd-step"]}
    with torch.no_grad():
        for work in workloads.values():
            for _ in range(5):
                work()
    for _ in range(2):
        sgd_step()
    synchronize()
    for _ in range(args.rounds):
        with torch.no_grad():
            for name, work in workloads.items():
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    work()
                    synchronize()
                    samples[name].append(time.perf_counter() - start)
        start = time.perf_counter()
        sgd_step()
        synchronize()
        samples["sgd-step"].append(time.perf_counter() - start)

    median = {name: median_seconds(values) for name, values in samples.items()}
    print(
        f"device={device} threads={torch.get_num_threads()} batch={batch_size}x3x{size}x{size} "
        f"torch={torch.__version__}"
    )
    print(f"authors' DCT layers: {source}")
    print(f"max |heat_blur - LinearDCT blur| = {difference:.2e}")
    for name, seconds in median.items():
        print(f"{name:>15s}: {seconds * 1e3:9.3f} ms  (median of {len(samples[name])})")
    mollify_share = median["mollify"] / median["sgd-step"]
    authors_ratio = median["mollify"] / median["authors-mollify"]
    blur_ratio = median["blur"] / median["blur-lineardct"]
    print(f"mollify / sgd-step         = {mollify_share:.4f}  (target <= 0.02)")
    print(f"mollify / authors-mollify  = {authors_ratio:.3f}  (target <= 1)")
    print(f"blur / blur-lineardct      = {blur_ratio:.3f}  (target <= 1)")


if __name__ == "__main__":
    main()
