"""The label schedules gamma(t) for noise and blur, beside the images they pair with.

A mollified image at temperature t is trained against a label smoothed by gamma_t
(Sec. 3.3): the label keeps the confidence 1 - gamma_t + gamma_t / C on its class.

- Noise (Eq. 4, ``probmoll.mollify.noise``): x_t = alpha_t x + sigma_t eps with
  alpha_t = cos(t pi/2), and ``gamma_noise`` (Eq. 12) = 1 / (1 + SNR) = sigma_t^2. For
  standardised images the squared correlation of x_t with x is alpha_t^2 = 1 - gamma_t:
  the label keeps exactly the share of variance that is still signal. Measured here on
  images of the synthetic dataset.
- Blur (Eqs. 5-6, ``probmoll.mollify.blur``): ``gamma_blur`` (Eq. 13) = t, the linear
  approximation of the fraction of PNG-compressed information the blur removes
  (docs/paper-readings.md, reading 1), measured here with ``blur_information_curve``.
  The heat blur keeps every image's mean (its DCT DC coefficient).

Run: ``python docs/examples/schedules.py [--fast] [--out DIR]``. Writes ``schedules.png``
and ``schedules.json``.
"""

from __future__ import annotations

import numpy as np
import torch
from _shared import parse_args, print_table, write_outputs

from probmoll.data import load_dataset
from probmoll.mollify import blur, blur_information_curve, gamma_blur, gamma_noise, noise
from probmoll.utils.figures import new_figure

TEMPERATURES = (0.0, 0.25, 0.5, 0.75, 1.0)


def squared_correlation(x: torch.Tensor, y: torch.Tensor) -> float:
    """Pearson correlation of all pixels of ``x`` with those of ``y``, squared."""
    stacked = torch.stack([x.flatten(), y.flatten()]).double()
    return torch.corrcoef(stacked)[0, 1].item() ** 2


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(__doc__.splitlines()[0], argv)
    dataset = load_dataset("synthetic", "train", n=64 if args.fast else 512)
    images, labels = dataset.to_tensor()  # uint8 (N, C, H, W)
    num_classes = len(dataset.classes)
    mean = torch.tensor(dataset.mean).view(1, -1, 1, 1)
    std = torch.tensor(dataset.std).view(1, -1, 1, 1)
    x = (images.float() / 255 - mean) / std  # the mollifiers act on standardised images
    generator = torch.Generator().manual_seed(args.seed)

    rows, noised, blurred = [], [], []
    for t in TEMPERATURES:
        x_noise = noise(x, t, generator)
        x_blur = blur(x, t)
        gamma_n, gamma_b = gamma_noise(t).item(), gamma_blur(t).item()
        rows.append(
            {
                "t": t,
                "gamma_noise": gamma_n,
                "gamma_blur": gamma_b,
                "noise_squared_correlation": squared_correlation(x_noise, x),
                "noise_label_confidence": 1 - gamma_n + gamma_n / num_classes,
                "blur_label_confidence": 1 - gamma_b + gamma_b / num_classes,
                "blur_max_mean_change": (x_blur.mean((-2, -1)) - x.mean((-2, -1)))
                .abs()
                .max()
                .item(),
            }
        )
        noised.append(x_noise[0])
        blurred.append(x_blur[0])

    grid = torch.linspace(0, 1, 11 if args.fast else 21)
    curve = blur_information_curve(images, grid)
    removed = curve.gamma().numpy()
    slope, intercept = np.polyfit(grid.numpy(), removed, 1)

    figure = new_figure(figsize=(13, 5.2), layout="constrained")
    left, right = figure.subfigures(1, 2, width_ratios=[1, 1.7])
    axis = left.subplots()
    fine = torch.linspace(0, 1, 201)
    axis.plot(fine, gamma_noise(fine), color="tab:blue", label="γ noise = sin²(tπ/2) (Eq. 12)")
    axis.plot(fine, gamma_blur(fine), color="tab:orange", label="γ blur = t (Eq. 13)")
    axis.plot(grid, removed, "k.-", label=f"PNG information removed by blur ({len(images)} images)")
    axis.plot(
        TEMPERATURES,
        [1 - row["noise_squared_correlation"] for row in rows],
        "o",
        color="tab:blue",
        mfc="none",
        label="1 − corr²(x_t, x), noised",
    )
    axis.set(xlabel="temperature t", ylabel="label mollification γ", xlim=(0, 1), ylim=(0, 1.02))
    axis.legend(fontsize=8, loc="lower right")
    axis.grid(alpha=0.3)
    image_axes = right.subplots(2, len(TEMPERATURES))

    def show(image: torch.Tensor) -> np.ndarray:
        return (image * std[0] + mean[0]).clamp(0, 1).permute(1, 2, 0).numpy()

    for column, row in enumerate(rows):
        for line, (kind, image) in enumerate(
            (("noise", noised[column]), ("blur", blurred[column]))
        ):
            panel = image_axes[line, column]
            panel.imshow(show(image))
            panel.set_xticks([])
            panel.set_yticks([])
            panel.set_title(
                f"{kind}, t = {row['t']:g}\nγ = {row[f'gamma_{kind}']:.2f}, "
                f"label {row[f'{kind}_label_confidence']:.2f}",
                fontsize=8,
            )
    right.suptitle(
        f"class {dataset.classes[labels[0]]}: confidence the label keeps, 1 − γ + γ/{num_classes}",
        fontsize=9,
    )

    results = {
        "images": len(images),
        "rows": rows,
        "max_noise_correlation_error": max(
            abs(row["noise_squared_correlation"] - (1 - row["gamma_noise"])) for row in rows
        ),
        "max_blur_mean_change": max(row["blur_max_mean_change"] for row in rows),
        "png_information_removed": {"t": grid.tolist(), "mean": removed.tolist()},
        "png_information_linear_fit": {"slope": float(slope), "intercept": float(intercept)},
    }
    print_table(
        ["t", "gamma_noise", "corr^2(x_t, x)", "gamma_blur", "PNG information removed"],
        [
            [
                row["t"],
                row["gamma_noise"],
                row["noise_squared_correlation"],
                row["gamma_blur"],
                float(np.interp(row["t"], grid.numpy(), removed)),
            ]
            for row in rows
        ],
    )
    write_outputs(args.out, "schedules", results, {"schedules": figure})
    return results


if __name__ == "__main__":
    main()
