"""shapes: reproducible bytes, balanced classes, object masks on the object, class from shape not colour."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from attriflow.data.embedded import shapes

from .conftest import digest

N = 400  # per resolution


@pytest.fixture(scope="module")
def ds(tmp_path_factory) -> Path:
    return shapes.generate(tmp_path_factory.mktemp("shapes") / "shapes", seed=0, n=N)


def load(ds, res, split):
    return {p.stem: np.load(p, allow_pickle=False) for p in (ds / str(res) / split).glob("*.npy")}


def test_same_seed_same_bytes_other_seed_other_bytes(ds, tmp_path):
    assert digest(shapes.generate(tmp_path / "a" / "shapes", seed=0, n=N)) == digest(ds)
    other = digest(shapes.generate(tmp_path / "b" / "shapes", seed=7, n=N))
    mine = digest(ds)
    for res in (32, 64):
        assert other[f"{res}/train/images.npy"] != mine[f"{res}/train/images.npy"]


def test_layout_sizes_and_balance(ds):
    meta = json.loads((ds / "meta.json").read_text())
    assert meta["classes"] == list(shapes.CLASSES) and len(shapes.CLASSES) == 10
    for res in (32, 64):
        assert sum(meta["splits"][str(res)].values()) == N
        for split in shapes.SPLITS:
            a = load(ds, res, split)
            n = meta["splits"][str(res)][split]
            assert a["images"].shape == (n, 3, res, res) and a["images"].dtype == np.uint8
            assert a["masks"].shape == (n, res, res) and a["masks"].dtype == bool
            counts = np.bincount(a["labels"], minlength=10)
            assert counts.max() - counts.min() <= 1, (res, split, counts)


def test_full_size_split_plan():
    assert shapes.RESOLUTIONS == {32: 6000, 64: 3700}
    from attriflow.data.embedded._common import split_sizes

    assert split_sizes(6000, shapes.FRACTIONS[32]) == {"train": 5000, "val": 250, "test": 750}
    assert split_sizes(3700, shapes.FRACTIONS[64]) == {"train": 3000, "val": 200, "test": 500}


@pytest.mark.parametrize("res", [32, 64])
def test_mask_covers_the_object(ds, res):
    a = load(ds, res, "train")
    area = a["masks"].mean(axis=(1, 2))
    assert area.min() > 0.02 and area.max() < 0.6
    img = a["images"].astype(float)
    colour = a["colors"].astype(float)[:, :, None, None]
    dist = np.sqrt(((img - colour) ** 2).sum(axis=1))  # distance of every pixel to the object's colour
    inside = (dist * a["masks"]).sum(axis=(1, 2)) / a["masks"].sum(axis=(1, 2))
    outside = (dist * ~a["masks"]).sum(axis=(1, 2)) / (~a["masks"]).sum(axis=(1, 2))
    assert (inside < outside).mean() > 0.97
    assert np.median(inside) < 40  # inside the mask the pixels are the object's colour (+ shading, noise)
    # the ring's mask has its hole: the centre of mass region is not all object
    ring = a["labels"] == shapes.CLASSES.index("ring")
    circle = a["labels"] == shapes.CLASSES.index("circle")
    assert a["masks"][ring].mean() < a["masks"][circle].mean()


def translation_invariant_features(images: np.ndarray, k: int = 5) -> np.ndarray:
    """|FFT| of each image's deviation from its median colour: position- and colour-sign-free."""
    x = images.astype(float) / 255
    d = np.abs(x - np.median(x, axis=(2, 3), keepdims=True)).sum(axis=1)
    d /= np.linalg.norm(d.reshape(len(d), -1), axis=1)[:, None, None] + 1e-9
    f = np.fft.fftshift(np.abs(np.fft.fft2(d)), axes=(-2, -1))
    c = d.shape[-1] // 2
    return np.log1p(10 * f[:, c - k:c + k, c - k:c + k]).reshape(len(d), -1)


@pytest.mark.parametrize("res", [32, 64])
def test_class_is_learnable_from_shape_but_not_from_colour(ds, res):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    a = load(ds, res, "train")
    y = a["labels"]
    shape_acc = cross_val_score(make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=3000)),
                                translation_invariant_features(a["images"]), y, cv=3).mean()
    assert shape_acc > 0.3  # chance is 0.1
    colour_acc = cross_val_score(LogisticRegression(max_iter=3000), a["colors"].astype(float) / 255, y, cv=3).mean()
    assert colour_acc < 0.2
