"""``probmoll demo``: mollify real images and draw what the model is trained on.

Writes to ``--out``:

- ``mollification_grid.png`` -- each image clean, then noised (Eq. 4) and blurred
  (Eqs. 5-6) at several temperatures, with the label level ``gamma`` and the
  probability the smoothed target (Eq. 8) leaves on the true class (paper Figs. 1-2);
- ``mollified_batch.png`` -- one batch through :class:`~probmoll.mollify.Mollifier`:
  per-image roles and ``t ~ Beta(1, 2)`` as used in training (Sec. 4);
- ``schedules.png`` -- the label schedules ``gamma_noise`` (Eq. 12), ``gamma_blur = t``
  (Eq. 13) and the PNG information actually removed by the blur (paper Fig. 3);
- ``schedules.json`` -- the numbers behind ``schedules.png``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from probmoll.mollify import (
    ROLE_NAMES,
    Mollifier,
    blur,
    blur_information_curve,
    gamma_blur,
    gamma_noise,
    label_smooth,
    noise,
)
from probmoll.utils.cli import positive_int
from probmoll.utils.figures import new_figure, save_figure
from probmoll.utils.io import atomic_write_json

__all__ = ["add_arguments", "run"]


def _temperatures(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {text!r}"
        ) from None
    if not all(0 <= value <= 1 for value in values):
        raise argparse.ArgumentTypeError(f"temperatures must lie in [0, 1], got {text!r}")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``probmoll demo``."""
    parser.add_argument(
        "--data", default="fashion-mnist", help="dataset name (default: %(default)s)"
    )
    parser.add_argument("--split", default="test", help="dataset split (default: %(default)s)")
    parser.add_argument(
        "--download",
        action="store_true",
        help="download the dataset with torchvision if its files are not found",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("runs/demo"), help="output folder (default: %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    parser.add_argument(
        "--num-images",
        type=positive_int,
        default=4,
        help="images in the clean/noised/blurred grid (default: %(default)s)",
    )
    parser.add_argument(
        "--temperatures",
        type=_temperatures,
        default=(0.1, 0.3, 0.5, 0.7, 0.9),
        help="comma-separated temperatures t for the grid (default: 0.1,0.3,0.5,0.7,0.9)",
    )
    parser.add_argument(
        "--batch-images",
        type=positive_int,
        default=16,
        help="images in the mollified training batch figure (default: %(default)s)",
    )
    parser.add_argument(
        "--curve-images",
        type=positive_int,
        default=64,
        help="images measured for the PNG information curve (default: %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    """Draw the figures; returns the process exit status."""
    from probmoll.data import load_dataset

    dataset = load_dataset(args.data, args.split, download=args.download)
    generator = torch.Generator().manual_seed(args.seed)
    order = torch.randperm(len(dataset.labels), generator=generator)
    mean = torch.tensor(dataset.mean, dtype=torch.float32).reshape(-1, 1, 1)
    std = torch.tensor(dataset.std, dtype=torch.float32).reshape(-1, 1, 1)

    def standardised(count: int) -> tuple[torch.Tensor, torch.Tensor]:
        raw, labels = _images(dataset, order[:count])
        return (raw.float() / 255 - mean) / std, labels  # mollifiers act on standardised images

    def show(image: torch.Tensor) -> np.ndarray:
        pixels = (image * std + mean).clamp(0, 1)
        return pixels.permute(1, 2, 0).squeeze(-1).numpy()

    out = Path(args.out)
    images, labels = standardised(args.num_images)
    grid = _grid_figure(images, labels, dataset.classes, args.temperatures, generator, show)
    save_figure(grid, out / "mollification_grid.png", dpi=110)

    images, labels = standardised(args.batch_images)
    batch = Mollifier(num_classes=len(dataset.classes))(images, labels, generator)
    save_figure(
        _batch_figure(batch, labels, dataset.classes, show), out / "mollified_batch.png", dpi=110
    )

    curve_images, _ = _images(dataset, order[: args.curve_images])
    curve = blur_information_curve(curve_images, torch.linspace(0, 1, 21))
    save_figure(_schedule_figure(curve, args.data), out / "schedules.png", dpi=110)
    summary = {
        "dataset": args.data,
        "png_images": curve.size_ratio.shape[1],
        "t": curve.t.tolist(),
        "gamma_noise": gamma_noise(curve.t).tolist(),
        "gamma_blur": gamma_blur(curve.t).tolist(),
        "png_information_removed_mean": curve.gamma().tolist(),
        "png_size_ratio_mean": curve.size_ratio.mean(1).tolist(),
    }
    atomic_write_json(out / "schedules.json", summary)
    for name in ("mollification_grid.png", "mollified_batch.png", "schedules.png"):
        print(out / name)
    return 0


def _images(dataset, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``uint8`` images ``(N, C, H, W)`` and labels of ``dataset`` at ``indices``."""
    indices = indices.numpy()
    images = torch.from_numpy(np.ascontiguousarray(dataset.images[indices]))
    labels = torch.from_numpy(np.asarray(dataset.labels)[indices]).long()
    return images.permute(0, 3, 1, 2).contiguous(), labels


def _grid_figure(images, labels, classes, temperatures, generator, show):
    num_classes = len(classes)
    columns = 1 + len(temperatures)
    rows = 2 * images.shape[0]
    figure = new_figure(figsize=(1.5 * columns, 1.75 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False)
    for index in range(images.shape[0]):
        image = images[index : index + 1]
        label = labels[index : index + 1]
        for row, (role, schedule) in enumerate((("noise", gamma_noise), ("blur", gamma_blur))):
            axis_row = axes[2 * index + row]
            _draw(axis_row[0], show(image[0]), f"{classes[label.item()]}\nclean", "p(y)=1.00")
            for column, t in enumerate(temperatures, start=1):
                if role == "noise":
                    mollified = noise(image, t, generator)
                else:
                    mollified = blur(image, t)
                gamma = schedule(t).item()
                confidence = label_smooth(label, gamma, num_classes)[0, label.item()].item()
                _draw(
                    axis_row[column],
                    show(mollified[0]),
                    f"{role} t={t:.2f}",
                    f"γ={gamma:.2f} p(y)={confidence:.2f}",
                )
    figure.suptitle("Noised (Eq. 4) and blurred (Eqs. 5-6) images; smoothed targets (Eq. 8)")
    return figure


def _batch_figure(batch, labels, classes, show):
    count = batch.x.shape[0]
    columns = min(count, 8)
    rows = -(-count // columns)
    figure = new_figure(figsize=(1.7 * columns, 2.5 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).reshape(-1)
    confidence = batch.y.gather(1, labels.unsqueeze(1)).squeeze(1)
    for index in range(count):
        role = ROLE_NAMES[batch.roles[index].item()]
        _draw(
            axes[index],
            show(batch.x[index]),
            f"{classes[labels[index].item()]}\n{role} t={batch.t[index].item():.2f}",
            f"γ={batch.gamma[index].item():.2f} p(y)={confidence[index].item():.2f}",
        )
    for axis in axes[count:]:
        axis.set_axis_off()
    figure.suptitle("One training batch: a role and t ~ Beta(1, 2) per image")
    return figure


def _schedule_figure(curve, dataset_name):
    t = curve.t.numpy()
    removed = (1 - curve.size_ratio).clamp(0, 1)
    figure = new_figure(figsize=(5.5, 4), layout="constrained")
    axis = figure.subplots()
    axis.plot(t, gamma_noise(curve.t).numpy(), label="γ noise = sin²(tπ/2) (Eq. 12)")
    axis.plot(t, gamma_blur(curve.t).numpy(), label="γ blur = t (Eq. 13)")
    mean, spread = removed.mean(1).numpy(), removed.std(1).numpy()
    axis.plot(t, mean, label="PNG information removed by blur", color="black")
    axis.fill_between(t, mean - spread, mean + spread, color="black", alpha=0.15)
    axis.set_xlabel("temperature t")
    axis.set_ylabel("label mollification γ")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1.02)
    axis.legend(loc="upper left", fontsize="small")
    axis.set_title(f"Label schedules ({dataset_name}, {removed.shape[1]} images)")
    return figure


def _draw(axis, pixels: np.ndarray, title: str, caption: str) -> None:
    axis.imshow(pixels, cmap="gray" if pixels.ndim == 2 else None, vmin=0, vmax=1)
    axis.set_title(title, fontsize=7)
    axis.set_xlabel(caption, fontsize=7)
    axis.set_xticks([])
    axis.set_yticks([])
