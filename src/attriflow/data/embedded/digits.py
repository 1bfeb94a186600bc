"""``digits``: scikit-learn's real handwritten digits, upsampled to 32 x 32, with a fixed split.

The one-class stand-in for MNIST / Fashion-MNIST in the MKD paper (train on one digit, test on
all). The 1,797 8 x 8 images (values 0..16) of ``sklearn.datasets.load_digits`` ship with
scikit-learn, so nothing is downloaded. They are upsampled x4 by bilinear interpolation with
pixel-centre alignment done in integer arithmetic (weights in eighths), then scaled to 0..255 with
integer rounding: the bytes do not depend on any float or resampling library. The split is
stratified per digit, 75% train / 25% test, from the seed, and each split is shuffled.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from attriflow.data.embedded._common import atomic_dir, finish, permutation, save, stream

NAME = "digits"
VERSION = 1
SIZE = 32
FACTOR = 4
TRAIN_FRACTION = 0.75
CLASSES = tuple(str(d) for d in range(10))


def _weights(n_in: int, factor: int) -> np.ndarray:
    """Integer bilinear weights (n_in * factor, n_in) in units of 1 / (2 * factor), rows sum to 2 * factor."""
    den = 2 * factor
    n_out = n_in * factor
    w = np.zeros((n_out, n_in), dtype=np.int64)
    for i in range(n_out):
        num = 2 * i + 1 - factor  # source coordinate (i + 0.5) / factor - 0.5, times den
        i0 = num // den
        f = num - i0 * den
        w[i, min(max(i0, 0), n_in - 1)] += den - f
        w[i, min(max(i0 + 1, 0), n_in - 1)] += f
    return w


def upsample(images: np.ndarray, factor: int = FACTOR, vmax: int = 16) -> np.ndarray:
    """(N, h, w) integers in 0..vmax -> (N, h * factor, w * factor) uint8 in 0..255, exactly."""
    x = np.asarray(images).astype(np.int64)
    wy = _weights(x.shape[1], factor)
    wx = _weights(x.shape[2], factor)
    num = np.einsum("ij,njk,lk->nil", wy, x, wx)  # integer sums: exact
    den = (2 * factor) ** 2 * vmax
    return ((num * 255 + den // 2) // den).astype(np.uint8)


def generate(out_dir: Path, seed: int = 0, n: int | None = None) -> Path:
    """Write ``{train,test}/{images,labels}.npy`` (images uint8 (N, 1, 32, 32)) and ``meta.json``.

    ``n`` (for tests) keeps only the first n digits of scikit-learn's order.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.rint(digits.images).astype(np.int64)
    labels = digits.target.astype(np.int64)
    if n is not None:
        images, labels = images[: int(n)], labels[: int(n)]
    rng = stream(seed, 0)
    train, test = [], []
    for d in range(10):
        idx = np.flatnonzero(labels == d)
        idx = idx[permutation(rng, len(idx))]
        k = int(round(TRAIN_FRACTION * len(idx)))
        train.append(idx[:k])
        test.append(idx[k:])
    out_dir = Path(out_dir)
    sizes = {}
    with atomic_dir(out_dir) as tmp:
        for key, (split, parts) in enumerate((("train", train), ("test", test))):
            idx = np.concatenate(parts)
            idx = idx[permutation(stream(seed, 1, key), len(idx))]
            save(tmp / split, "images", upsample(images[idx])[:, None])
            save(tmp / split, "labels", labels[idx].astype(np.uint8))
            save(tmp / split, "source_index", idx.astype(np.int64))
            sizes[split] = int(len(idx))
        finish(tmp, {
            "name": NAME, "kind": "embedded", "generator": f"attriflow.data.embedded.digits v{VERSION}", "version": VERSION,
            "seed": int(seed), "image_size": SIZE, "classes": list(CLASSES), "splits": sizes,
            "source": "sklearn.datasets.load_digits (UCI optical recognition of handwritten digits, test part)",
            "files": {
                "images": "uint8 (N, 1, 32, 32)",
                "labels": "uint8 (N,), the digit",
                "source_index": "int64 (N,), row in load_digits()",
            },
        })
    return out_dir
