"""Fig. 3 of the paper: how much PNG-compressed information the heat blur leaves.

The paper blurs TinyImageNet images along the logarithmic schedule of Eq. 6
(``sigma_B(t)`` from 0.3 pixels to the image width), PNG-encodes them and finds the
compressed size falling about linearly in ``t``; that is the basis of the label schedule
``gamma_blur = t^k`` (Eq. 13; read as in docs/paper-readings.md, reading 1, the
information *removed*, ``1 - size(x_t.png) / size(x_0.png)``, is what rises like ``t``).
This script measures the curve on any registered dataset with
:func:`probmoll.mollify.blur_information_curve` and writes ``fig3_<label>.json`` (the
numbers, with a least-squares line and its largest deviation) and ``fig3_<label>.png``
to ``--out``::

    python experiments/fig3_png_information.py --data tinyimagenet --images 1000
    python experiments/fig3_png_information.py --data fashion-mnist
    python experiments/fig3_png_information.py --data folder \\
        --root ../shared/data/cifar10-jpeg.zip --label cifar10-jpeg

Images are drawn at random (``--seed``) from the test split.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
# Run as a script from anywhere: import probmoll and experiments/runs.py (the naming of
# datasets in results) from the checkout.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from experiments.runs import CIFAR10_JPEG_TITLE, is_cifar10_jpeg  # noqa: E402
from probmoll.mollify import blur_information_curve, gamma_blur  # noqa: E402
from probmoll.train.runlog import git_commit  # noqa: E402
from probmoll.utils.figures import new_figure, save_figure  # noqa: E402
from probmoll.utils.io import atomic_write_json  # noqa: E402


def dataset_label(name: str, root: str | None) -> str:
    """The dataset as results must name it (the JPEG copy of CIFAR-10 is not CIFAR-10)."""
    return CIFAR10_JPEG_TITLE if is_cifar10_jpeg(name, root) else name


def linear_fit(t: np.ndarray, values: np.ndarray) -> dict[str, float]:
    """Least-squares line ``values ~ slope * t + intercept`` and its worst residual."""
    slope, intercept = np.polyfit(t, values, 1)
    residual = values - (slope * t + intercept)
    return {
        "slope": float(slope),
        "intercept": float(intercept),
        "max_abs_residual": float(np.abs(residual).max()),
        "r2": float(1 - residual.var() / values.var()) if values.var() > 0 else float("nan"),
    }


def run(args: argparse.Namespace) -> dict:
    from probmoll.data import load_dataset

    options = {"root": args.root} if args.root else {}
    dataset = load_dataset(args.data, args.split, cache_dir=args.cache_dir, **options)
    generator = torch.Generator().manual_seed(args.seed)
    count = min(args.images, len(dataset.labels))
    order = torch.randperm(len(dataset.labels), generator=generator)[:count].sort().values
    images = torch.from_numpy(np.ascontiguousarray(dataset.images[order.numpy()]))
    images = images.permute(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)
    t = torch.linspace(0, 1, args.points)
    curve = blur_information_curve(images, t)
    removed = (1 - curve.size_ratio).clamp(0, 1)  # (T, N): information removed per image
    summary = {
        "command": "python experiments/fig3_png_information.py " + " ".join(args.argv),
        "git_commit": git_commit(),
        "dataset": dataset_label(args.data, args.root),
        "split": args.split,
        "images": count,
        "image_shape": list(images.shape[1:]),
        "seed": args.seed,
        "t": t.tolist(),
        "png_size_ratio_mean": curve.size_ratio.mean(1).tolist(),
        "information_removed_mean": removed.mean(1).tolist(),
        "information_removed_std": removed.std(1).tolist(),
        "gamma_blur_t": gamma_blur(t).tolist(),
        "linear_fit_of_information_removed": linear_fit(t.numpy(), removed.mean(1).numpy()),
    }
    out = Path(args.out)
    label = args.label or args.data
    atomic_write_json(out / f"fig3_{label}.json", summary)
    _figure(summary, out / f"fig3_{label}.png")
    return summary


def _figure(summary: dict, path: Path) -> None:
    t = np.asarray(summary["t"])
    mean = np.asarray(summary["information_removed_mean"])
    std = np.asarray(summary["information_removed_std"])
    figure = new_figure(figsize=(4.2, 3.2))
    axis = figure.add_subplot(1, 1, 1)
    axis.fill_between(t, mean - std, mean + std, color="tab:blue", alpha=0.2, linewidth=0)
    axis.plot(t, mean, color="tab:blue", label="1 - size(x_t.png)/size(x_0.png)")
    axis.plot(t, summary["gamma_blur_t"], color="black", linestyle="--", label="t (Eq. 13)")
    axis.set_xlabel("blur temperature t")
    axis.set_ylabel("PNG information removed")
    axis.set_title(f"{summary['dataset']}, {summary['images']} images", fontsize=9)
    axis.legend(fontsize=7)
    save_figure(figure, path, dpi=100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="fashion-mnist", help="registered dataset name")
    parser.add_argument("--root", default=None, help="dataset folder or .zip (folder datasets)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--cache-dir", default=None, help="cache of decoded arrays")
    parser.add_argument("--images", type=int, default=500, help="images measured")
    parser.add_argument("--points", type=int, default=21, help="temperatures on [0, 1]")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--label", default=None, help="file-name label (default: --data)")
    parser.add_argument("--out", default=str(REPO / "results" / "fig3"), help="output folder")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.images < 1 or args.points < 2:
        parser.error(f"--images must be >= 1 and --points >= 2, got {args.images}, {args.points}")
    summary = run(args)
    fit = summary["linear_fit_of_information_removed"]
    print(
        f"{summary['dataset']}: information removed = {fit['slope']:.3f} t + "
        f"{fit['intercept']:.3f} (R^2 {fit['r2']:.3f}, "
        f"worst residual {fit['max_abs_residual']:.3f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
