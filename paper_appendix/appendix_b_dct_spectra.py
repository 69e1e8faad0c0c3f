"""Fig. 11 (Appendix B): which DCT frequencies each corruption changes.

Claim (Appendix B, Fig. 11): averaged over a validation set, the absolute change of the
DCT coefficients, ``(1/N) sum_i |DCT[corruption[x_i]] - DCT[x_i]|`` (Eq. 16), shows
that noise corruptions change all frequencies alike, blur corruptions mostly the low
frequencies (decaying towards the high ones), weather corruptions the low frequencies in
a blur-like way, and digital corruptions split into noise-like and blur-like ones, with
pixelate an outlier. Hence noise and blur mollification (Sec. 3.2) between them cover
the spectral footprint of the benchmark corruptions.

Evidence: for ``--images`` test images (drawn with ``--seed``), every benchmark
corruption at each severity is generated with probmoll's corruption generator
(:func:`probmoll.data.corruptions.corrupt_range`, the code that builds generated
benchmark sets) with the severity constants of ``--preset`` (``auto``: those made for
the image size, CIFAR-10-C's at 32 x 32), and the orthonormal 2-D DCT
(:func:`probmoll.mollify.dct_2d`, that is ``scipy.fft.dctn(..., norm="ortho")``) of every
channel of the clean and corrupted images (on the [0, 1] scale) is taken. Per radial
frequency ``rho = sqrt((h/H)^2 + (w/W)^2)`` (bins of width ``1/H``; ``rho = 1`` is the
Nyquist frequency of one axis; bin 0 is the DC coefficient alone) the script reports

- the mean absolute change of the coefficients (Eq. 16, averaged over the bin),
- the spectral density: the mean power ``DCT[x]^2`` of clean and corrupted images,
- the same change for the two training mollifiers, Gaussian noise (Eq. 4) and DCT heat
  blur (Eqs. 5-6) at a few temperatures, applied as in training to standardised images
  (docs/paper-readings.md, reading 5) and mapped back to the [0, 1] scale,

and sums each corruption up by the ratio of its mean change at high frequencies
(``rho > 1/2``) to that at low ones (``0 < rho <= 1/4``), about 1 for a flat (noise-like)
change, and by the mollifier whose change profile has the closest shape (least squares
on log profiles normalised to mean 1, ``0 < rho <= 1``).

Run::

    python paper_appendix/appendix_b_dct_spectra.py --data fashion-mnist --images 500 \\
        --out results/figures
    PROBMOLL_DATA=<folder of cifar10-jpeg.zip> python paper_appendix/appendix_b_dct_spectra.py \\
        --data cifar10-jpeg --images 500 --out results/figures

Writes ``fig11_<data>.png``, ``fig11_<data>.json`` (every number plotted, the corruption
preset, images, seed, command) and ``fig11_<data>.md``. Only summary numbers are
written, never images.
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
from pathlib import Path

import numpy as np
import torch
from _common import DEFAULT_OUTPUT, number_table, write_outputs

from probmoll.data import load_dataset
from probmoll.data.corruptions import (
    BENCHMARK_CORRUPTIONS,
    CORRUPTION_CATEGORIES,
    SEVERITIES,
    category_of,
    check_corruption,
    corrupt_range,
)
from probmoll.mollify import MollifyConfig, blur, dct_2d, noise, sample_beta
from probmoll.train.runlog import git_commit
from probmoll.utils.figures import new_figure, save_figure

DATASETS = ("fashion-mnist", "cifar10-jpeg", "synthetic")
TITLES = {
    "fashion-mnist": "Fashion-MNIST",
    "cifar10-jpeg": "CIFAR-10 (JPEG copy)",
    "synthetic": "synthetic gratings",
}
PRESETS = ("auto", "imagenet-c", "cifar10-c", "tinyimagenet-c")
# The constants imagecorruptions uses when no preset is chosen.
GENERATOR_DEFAULT_PRESET = "imagenet-c"
# Mollifier temperatures drawn as reference curves; training draws t ~ Beta(1, 2) (mean 1/3).
REFERENCE_T = (0.1, 0.25, 0.5)
# Frequency bands of the high-to-low ratio (rho = 1: Nyquist along one axis).
LOW_BAND = (0.0, 0.25)
HIGH_BAND = (0.5, np.inf)
COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")
STYLES = {"noise": "--", "blur": ":"}  # line style of each mollifier


# ------------------------------------------------------------------ spectral measures
def dct_coefficients(images: np.ndarray) -> np.ndarray:
    """Orthonormal 2-D DCT of every channel: ``(N, H, W, C)`` in [0, 1] -> ``(N, C, H, W)``."""
    channels_first = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float64))
    return dct_2d(channels_first.permute(0, 3, 1, 2)).numpy()


def radial_frequency(height: int, width: int) -> np.ndarray:
    """``rho = sqrt((h/H)^2 + (w/W)^2)`` of DCT coefficient ``(h, w)``; 1 is one axis' Nyquist."""
    vertical = np.arange(height)[:, None] / height
    horizontal = np.arange(width)[None, :] / width
    return np.sqrt(vertical**2 + horizontal**2)


def radial_bins(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Bin index of every coefficient (``round(rho * H)``: bin 0 is DC alone) and the mean
    ``rho`` of each bin."""
    rho = radial_frequency(height, width)
    index = np.rint(rho * height).astype(int)
    centres = np.bincount(index.ravel(), rho.ravel()) / np.bincount(index.ravel())
    return index, centres


def radial_profile(values: np.ndarray) -> np.ndarray:
    """Mean of ``values`` ``(..., H, W)`` over the leading axes and each radial bin."""
    index, _ = radial_bins(*values.shape[-2:])
    per_coefficient = values.reshape(-1, *values.shape[-2:]).mean(axis=0)
    return np.bincount(index.ravel(), per_coefficient.ravel()) / np.bincount(index.ravel())


def mean_abs_change(clean: np.ndarray, changed: np.ndarray) -> np.ndarray:
    """Eq. 16 per coefficient: ``mean_i |changed_i - clean_i|`` over images and channels,
    for DCT coefficients ``(N, C, H, W)``; returns ``(H, W)``."""
    return np.abs(changed - clean).mean(axis=(0, 1))


def band_mean(change_map: np.ndarray, band: tuple[float, float]) -> float:
    """Mean of an ``(H, W)`` map over the coefficients with ``band[0] < rho <= band[1]``."""
    rho = radial_frequency(*change_map.shape)
    return float(change_map[(rho > band[0]) & (rho <= band[1])].mean())


def high_to_low_ratio(change_map: np.ndarray) -> float:
    """Mean change at high frequencies over that at low ones (about 1 when flat)."""
    return band_mean(change_map, HIGH_BAND) / band_mean(change_map, LOW_BAND)


def profile_shape(profile: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Log of the profile over ``0 < rho <= 1``, normalised to mean 1 there."""
    keep = (centres > 0) & (centres <= 1)
    values = np.maximum(profile[keep], 1e-12)
    return np.log(values / values.mean())


def nearest_reference(profile: np.ndarray, references: dict, centres: np.ndarray) -> str:
    """The reference curve whose shape (:func:`profile_shape`) is closest in least squares."""
    shape = profile_shape(profile, centres)
    distances = {
        name: float(np.mean((shape - profile_shape(np.asarray(ref), centres)) ** 2))
        for name, ref in references.items()
    }
    return min(distances, key=distances.get)


# ------------------------------------------------------------------ images and corruptions
def load_images(args: argparse.Namespace) -> tuple[np.ndarray, tuple, tuple]:
    """``--images`` test images (uint8 ``(N, H, W, C)``, drawn with ``--seed``), mean, std."""
    if args.data == "fashion-mnist":
        dataset = load_dataset("fashion-mnist", "test", cache_dir=args.cache_dir, pad_to=32)
    elif args.data == "synthetic":
        dataset = load_dataset("synthetic", "test", n=max(args.images, 1))
    else:
        dataset = load_dataset(
            "folder",
            "test",
            root=cifar_root(args.root),
            cache_dir=args.cache_dir,
            name="cifar10-jpeg",
        )
    generator = torch.Generator().manual_seed(args.seed)
    count = min(args.images, len(dataset.labels))
    order = torch.randperm(len(dataset.labels), generator=generator)[:count].sort().values
    return np.ascontiguousarray(dataset.images[order.numpy()]), dataset.mean, dataset.std


def cifar_root(root: str | None) -> Path:
    """``--root``, else ``$PROBMOLL_DATA/cifar10-jpeg.zip``."""
    if root is None and os.environ.get("PROBMOLL_DATA"):
        root = Path(os.environ["PROBMOLL_DATA"]) / "cifar10-jpeg.zip"
    if root is None or not Path(root).exists():
        raise SystemExit(
            f"the CIFAR-10 JPEG copy was not found (--root {root}); pass "
            "--root PATH/cifar10-jpeg.zip "
            "or set $PROBMOLL_DATA to its folder"
        )
    return Path(root)


def choose_preset(requested: str, image_size: tuple[int, int]) -> str | None:
    """The generator's preset for ``requested`` (``"auto"`` resolved for the image size),
    or None when the installed generator takes no ``preset=`` (it then always uses
    :data:`GENERATOR_DEFAULT_PRESET`)."""
    if "preset" in inspect.signature(corrupt_range).parameters:
        from probmoll.data.corruptions import resolve_preset

        return resolve_preset(requested, image_size)
    if requested not in ("auto", GENERATOR_DEFAULT_PRESET):
        raise SystemExit(f"--preset {requested}: the installed corruption generator has no presets")
    return None


def corrupt(images: np.ndarray, name: str, severity: int, seed: int, preset: str | None):
    """The images corrupted as a generated set with ``seed`` corrupts them."""
    extra = {} if preset is None else {"preset": preset}
    return corrupt_range(images, name, severity, 0, len(images), seed, **extra)


def mollifier_references(
    images: np.ndarray, clean: np.ndarray, mean: tuple, std: tuple, seed: int
) -> dict[str, np.ndarray]:
    """Eq. 16 maps of the training mollifiers: noise (Eq. 4) and blur (Eqs. 5-6) at each of
    :data:`REFERENCE_T` and at ``t ~ Beta(alpha, beta)`` drawn per image (training's draw,
    with the defaults of :class:`~probmoll.mollify.MollifyConfig`), applied to standardised
    images as in training and mapped back to the [0, 1] scale."""
    settings = MollifyConfig()
    scale = torch.tensor(std, dtype=torch.float64)[:, None, None]
    shift = torch.tensor(mean, dtype=torch.float64)[:, None, None]
    pixels = torch.from_numpy(images.astype(np.float64) / 255).permute(0, 3, 1, 2)
    standardised = (pixels - shift) / scale
    generator = torch.Generator().manual_seed(seed)
    drawn = sample_beta(
        settings.alpha, settings.beta, (len(images),), generator=generator, dtype=torch.float64
    )
    levels = {f"t={t}": t for t in REFERENCE_T}
    levels[f"t~Beta({settings.alpha:g},{settings.beta:g})"] = drawn
    maps = {}
    for kind in ("noise", "blur"):
        for label, t in levels.items():
            if kind == "noise":
                mollified = noise(standardised, t, generator=generator)
            else:
                mollified = blur(standardised, t, settings.sigma_min, settings.sigma_max)
            back = (mollified * scale + shift).permute(0, 2, 3, 1).numpy()
            maps[f"{kind} {label}"] = mean_abs_change(clean, dct_coefficients(back))
    return maps


# ------------------------------------------------------------------ main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=DATASETS, default="fashion-mnist")
    parser.add_argument("--images", type=int, default=500, help="test images measured")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUTPUT, help="output folder")
    parser.add_argument(
        "--preset",
        choices=PRESETS,
        default="auto",
        help="severity constants of the corruption generator (auto: those made for the image "
        "size, cifar10-c at 32x32)",
    )
    parser.add_argument(
        "--severity", type=int, choices=SEVERITIES, default=None, help="one severity (default all)"
    )
    parser.add_argument(
        "--corruptions",
        nargs="+",
        default=list(BENCHMARK_CORRUPTIONS),
        help="corruptions measured (default the 15 benchmark ones)",
    )
    parser.add_argument("--root", default=None, help="cifar10-jpeg.zip (cifar10-jpeg)")
    parser.add_argument("--cache-dir", default=None, help="cache of decoded arrays")
    parser.add_argument("--seed", type=int, default=0, help="image draw and corruption seed")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.images < 1:
        parser.error(f"--images must be >= 1, got {args.images}")
    for name in args.corruptions:
        check_corruption(name)
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    severities = list(SEVERITIES) if args.severity is None else [args.severity]
    images, mean, std = load_images(args)
    height, width = images.shape[1:3]
    preset = choose_preset(args.preset, (height, width))
    _, centres = radial_bins(height, width)
    clean = dct_coefficients(images / 255)

    references = mollifier_references(images, clean, mean, std, args.seed)
    reference_profiles = {name: radial_profile(m) for name, m in references.items()}
    records = {}
    for name in args.corruptions:
        maps, powers = [], []
        for severity in severities:
            corrupted = dct_coefficients(corrupt(images, name, severity, args.seed, preset) / 255)
            maps.append(mean_abs_change(clean, corrupted))
            powers.append(radial_profile(corrupted**2))
        change_map = np.mean(maps, axis=0)
        profile = radial_profile(change_map)
        records[name] = {
            "category": category_of(name),
            "change_per_severity": [rounded(radial_profile(m)) for m in maps],
            "change": rounded(profile),
            "power": rounded(np.mean(powers, axis=0)),
            "dc_change": float(change_map[0, 0]),
            "high_to_low_ratio": high_to_low_ratio(change_map),
            "high_to_low_ratio_per_severity": [high_to_low_ratio(m) for m in maps],
            "nearest_mollifier": nearest_reference(profile, reference_profiles, centres),
        }
    results = summarise(args, preset, images, centres, clean, references, records, severities)
    plot(results, args.out / f"fig11_{args.data}.png")
    write_outputs(args.out, f"fig11_{args.data}", results, markdown(results))
    return results


def rounded(values: np.ndarray) -> list[float]:
    return [float(f"{v:.5g}") for v in values]


def summarise(args, preset, images, centres, clean, references, records, severities) -> dict:
    by_category = {
        category: [n for n in names if n in records]
        for category, names in CORRUPTION_CATEGORIES.items()
    }
    nearest_kind = {n: r["nearest_mollifier"].split()[0] for n, r in records.items()}
    conclusions = {}
    for category, kind in (("noise", "noise"), ("blur", "blur")):
        if by_category[category]:
            key = f"{category}_corruptions_nearest_to_{kind}_mollification"
            conclusions[key] = all(nearest_kind[n] == kind for n in by_category[category])
    conclusions["noise_like"] = sorted(n for n, k in nearest_kind.items() if k == "noise")
    conclusions["blur_like"] = sorted(n for n, k in nearest_kind.items() if k == "blur")
    return {
        "claim": __doc__.splitlines()[0],
        "command": "python paper_appendix/appendix_b_dct_spectra.py " + " ".join(args.argv),
        "git_commit": git_commit(),
        "dataset": TITLES[args.data],
        "split": "test",
        "images": len(images),
        "image_shape": list(images.shape[1:]),
        "seed": args.seed,
        "preset_requested": args.preset,
        "preset": GENERATOR_DEFAULT_PRESET if preset is None else preset,
        "generator_takes_preset": preset is not None,
        "severities": severities,
        "pixel_scale": "[0, 1]",
        "dct": "orthonormal 2-D DCT-II per channel (probmoll.mollify.dct_2d)",
        "radial_frequency": rounded(centres),
        "bins_note": "rho = sqrt((h/H)^2 + (w/W)^2), bins round(rho * H); bin 0 = DC alone",
        "bands": {"low": f"{LOW_BAND[0]} < rho <= {LOW_BAND[1]}", "high": f"rho > {HIGH_BAND[0]}"},
        "clean_power": rounded(radial_profile(clean**2)),
        "clean_magnitude": rounded(radial_profile(np.abs(clean))),
        "mollifiers": {
            name: {"change": rounded(radial_profile(m)), "high_to_low_ratio": high_to_low_ratio(m)}
            for name, m in references.items()
        },
        "corruptions": records,
        "conclusions": conclusions,
    }


def markdown(results: dict) -> str:
    rows = [
        [name, r["category"], r["high_to_low_ratio"], r["dc_change"], r["nearest_mollifier"]]
        for name, r in results["corruptions"].items()
    ]
    rows += [
        [name, "mollifier", r["high_to_low_ratio"], r["change"][0], ""]
        for name, r in results["mollifiers"].items()
    ]
    header = (
        f"# Fig. 11: DCT change of the corruptions, {results['dataset']}, "
        f"{results['images']} test images, preset {results['preset']}, "
        f"severities {results['severities']}\n\n"
    )
    return header + number_table(
        ["corruption", "category", "high/low change", "DC change", "nearest mollifier"], rows
    )


def plot(results: dict, path: Path) -> None:
    rho = np.asarray(results["radial_frequency"])
    keep = rho > 0  # the DC coefficient is reported apart (brightness moves it most)
    categories = list(CORRUPTION_CATEGORIES)
    mollifiers = results["mollifiers"]
    drawn = {kind: next(n for n in mollifiers if n.startswith(f"{kind} t~")) for kind in STYLES}
    figure = new_figure(figsize=(4.0 * (len(categories) + 1), 6.6))
    axes = figure.subplots(2, len(categories) + 1)
    for column, category in enumerate(categories):
        top, bottom = axes[0, column], axes[1, column]
        names = [n for n in CORRUPTION_CATEGORIES[category] if n in results["corruptions"]]
        for colour, name in zip(COLOURS, names, strict=False):
            record = results["corruptions"][name]
            top.plot(rho[keep], np.asarray(record["change"])[keep], color=colour, label=name)
            bottom.plot(rho[keep], np.asarray(record["power"])[keep], color=colour, label=name)
        for kind, name in drawn.items():
            change = np.asarray(mollifiers[name]["change"])[keep]
            top.plot(rho[keep], change, color="0.5", linestyle=STYLES[kind], label=name)
        clean = np.asarray(results["clean_power"])[keep]
        bottom.plot(rho[keep], clean, "k-", lw=1.5, label="clean")
        top.set_title(f"(a) {category}: mean |DCT change|", fontsize=9)
        bottom.set_title(f"(b) {category}: spectral density", fontsize=9)
        top.set_ylabel("mean |DCT[corrupted] - DCT[clean]|", fontsize=8)
        bottom.set_ylabel("mean DCT power", fontsize=8)
    shades = {
        "noise": iter(("#9ecae1", "#4292c6", "#08519c", "black")),
        "blur": iter(("#fdae6b", "#f16913", "#a63603", "black")),
    }
    for name, record in mollifiers.items():
        kind = name.split()[0]
        axes[0, -1].plot(
            rho[keep],
            np.asarray(record["change"])[keep],
            label=name,
            color=next(shades[kind]),
            linestyle=STYLES[kind],
        )
    axes[0, -1].set_title("(a) training mollifiers (Eqs. 4-6)", fontsize=9)
    for axis in axes[:, :-1].ravel().tolist() + [axes[0, -1]]:
        axis.set_yscale("log")
        axis.set_xlabel("radial frequency rho (1 = Nyquist)", fontsize=8)
        axis.legend(fontsize=6)
    ratios = axes[1, -1]
    names = list(results["corruptions"])
    colours = [COLOURS[categories.index(results["corruptions"][n]["category"])] for n in names]
    ratios.barh(
        names, [results["corruptions"][n]["high_to_low_ratio"] for n in names], color=colours
    )
    for kind, name in drawn.items():
        ratios.axvline(
            mollifiers[name]["high_to_low_ratio"], color="0.3", linestyle=STYLES[kind], label=name
        )
    ratios.set_xscale("log")
    ratios.invert_yaxis()
    ratios.tick_params(axis="y", labelsize=6)
    ratios.set_xlabel("mean change at rho > 1/2 over 0 < rho <= 1/4", fontsize=8)
    ratios.set_title("(c) high/low-frequency change (1: flat)", fontsize=9)
    ratios.legend(fontsize=6)
    figure.suptitle(
        f"{results['dataset']}: {results['images']} test images, corruption preset "
        f"{results['preset']}, mean over severities {results['severities']}",
        fontsize=10,
    )
    figure.tight_layout()
    save_figure(figure, path, dpi=110)


if __name__ == "__main__":
    main()
