"""Fashion-MNIST from its original IDX files, zero-padded to 32x32 by default.

The files are found, in this order, under ``root`` (its ``FashionMNIST/raw`` sub-folder,
torchvision's layout, or ``root`` itself), and, when no ``root`` is given, under the default
data root and in ``/usr/share/datasets/fashion-mnist`` (Debian's ``dataset-fashion-mnist``
package). Both gzip-compressed and plain IDX files are accepted.

The 28x28 images are padded with zeros (the background colour) to ``pad_to`` x ``pad_to``
because the corruption library refuses images smaller than 32x32 and the preact-ResNets
downsample 32x32 inputs to 4x4.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from .cache import CacheEntry, cached_split, dataset_statistics, default_data_root
from .dataset import DatasetSplit
from .files import torchvision_download
from .registry import check_split, register_dataset

__all__ = ["FASHION_MNIST_CLASSES", "SYSTEM_FASHION_MNIST", "load_fashion_mnist", "read_idx"]

SYSTEM_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

# IDX type codes -> numpy big-endian dtypes (http://yann.lecun.com/exdb/mnist/ format).
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (gzip-compressed or not) into a numpy array.

    The header is two zero bytes, a type code, the number of dimensions ``d`` and ``d``
    big-endian int32 sizes; the data follow in C order.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as error:
            raise ValueError(f"{str(path)!r} is a corrupted gzip file: {error}") from error
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ValueError(
            f"{str(path)!r} is not an IDX file: its magic number is {raw[:4].hex() or 'missing'} "
            f"(expected 0000 + type code in {sorted(hex(t) for t in _IDX_TYPES)} + ndim)"
        )
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{str(path)!r} is truncated inside its header")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(
            f"{str(path)!r} has {len(raw)} bytes but its header (shape {shape}, dtype "
            f"{dtype}) implies {expected}: the file is truncated or corrupted"
        )
    return (
        np.frombuffer(raw, dtype=dtype, offset=header)
        .reshape(shape)
        .astype(dtype.newbyteorder("="))
    )


def _find(stem: str, folders: list[Path]) -> Path | None:
    for folder in folders:
        for candidate in (folder / f"{stem}.gz", folder / stem):
            if candidate.is_file():
                return candidate
    return None


def _search_folders(root: Path | None) -> list[Path]:
    if root is not None:
        return [root / "FashionMNIST" / "raw", root]
    base = default_data_root()
    return [base / "FashionMNIST" / "raw", base, SYSTEM_FASHION_MNIST]


@register_dataset("fashion-mnist")
def load_fashion_mnist(
    split, *, root=None, cache_dir=None, download=False, pad_to: int | None = 32
) -> DatasetSplit:
    """Fashion-MNIST: 60,000 train / 10,000 test grayscale images, 10 classes (C = 1).

    Parameters
    ----------
    split : {"train", "test"}
    root : path-like, optional
        Folder holding the IDX files or torchvision's ``FashionMNIST/raw``; default: the
        data root, then ``/usr/share/datasets/fashion-mnist``.
    cache_dir : path-like, optional
        Cache of the decoded arrays.
    download : bool
        Download with ``torchvision.datasets.FashionMNIST`` into ``root`` when missing.
    pad_to : int or None
        Zero-pad the 28x28 images to ``pad_to`` x ``pad_to`` (default 32; None keeps 28x28).
        The 28x28 image sits at offset ``(pad_to - 28) // 2``.
    """
    check_split(split, ("train", "test"), "fashion-mnist")
    if pad_to is None:
        pad_to = 28
    if isinstance(pad_to, bool) or not isinstance(pad_to, (int, np.integer)) or pad_to < 28:
        raise ValueError(f"pad_to must be an int >= 28 or None, got {pad_to!r}")
    pad_to = int(pad_to)
    folders = _search_folders(root)
    paths = {s: tuple(_find(stem, folders) for stem in _FILES[s]) for s in _FILES}
    if any(p is None for pair in paths.values() for p in pair):
        if download:
            target = default_data_root(root)
            for train in (True, False):
                torchvision_download("FashionMNIST", target, train=train)
            return load_fashion_mnist(
                split, root=target, cache_dir=cache_dir, download=False, pad_to=pad_to
            )
        missing = [
            stem for s in _FILES for stem, p in zip(_FILES[s], paths[s], strict=True) if p is None
        ]
        raise FileNotFoundError(
            f"Fashion-MNIST not found: missing {missing} (.gz or plain) in "
            f"{[str(f) for f in folders]}. Install Debian's package with "
            f"`apt-get install dataset-fashion-mnist`, or download it with "
            f"load_dataset('fashion-mnist', root=..., download=True) (command line: --download)."
        )
    source_files = [p for pair in paths.values() for p in pair]
    entry = CacheEntry(
        cache_dir,
        "fashion-mnist",
        {
            "files": [
                (str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in source_files
            ],
            "pad_to": pad_to,
        },
    )

    def decode(which: str):
        images_path, labels_path = paths[which]

        def build(allocate):
            raw_images = read_idx(images_path)
            labels = read_idx(labels_path)
            if raw_images.ndim != 3 or raw_images.dtype != np.uint8 or labels.ndim != 1:
                raise ValueError(
                    f"{str(images_path)!r}/{str(labels_path)!r} hold shapes {raw_images.shape}/"
                    f"{labels.shape}: expected (N, H, W) uint8 images and (N,) labels"
                )
            if len(labels) != len(raw_images):
                raise ValueError(
                    f"{str(images_path)!r} has {len(raw_images)} images but "
                    f"{str(labels_path)!r} has {len(labels)} labels"
                )
            height, width = raw_images.shape[1:]
            if pad_to < max(height, width):
                raise ValueError(f"pad_to={pad_to} is smaller than the images ({height}x{width})")
            images = allocate(len(raw_images), (pad_to, pad_to, 1))
            images[:] = 0
            top, left = (pad_to - height) // 2, (pad_to - width) // 2
            images[:, top : top + height, left : left + width, 0] = raw_images
            return labels.astype(np.int64), {
                "source": [str(images_path), str(labels_path)],
                "dataset": "fashion-mnist",
                "classes": list(FASHION_MNIST_CLASSES),
                "pad_to": pad_to,
            }

        return cached_split(entry, which, build)

    images, labels, sidecar = decode(split)
    mean, std, _ = dataset_statistics(split, sidecar, lambda: decode("train")[2])
    return DatasetSplit("fashion-mnist", split, images, labels, FASHION_MNIST_CLASSES, mean, std)
