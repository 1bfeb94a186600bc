"""textures: reproducible bytes, 15 categories, defect masks that match changed pixels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from attriflow.data.embedded import textures

from .conftest import digest

N = 16  # train images per category; test = 4 normal + 6 defective


@pytest.fixture(scope="module")
def ds(tmp_path_factory) -> Path:
    return textures.generate(tmp_path_factory.mktemp("tex") / "textures", seed=0, n=N)


def test_same_seed_same_bytes_other_seed_other_bytes(ds, tmp_path):
    assert digest(textures.generate(tmp_path / "a" / "textures", seed=0, n=N)) == digest(ds)
    other = digest(textures.generate(tmp_path / "b" / "textures", seed=3, n=N))
    mine = digest(ds)
    for c in textures.CATEGORIES:
        assert other[f"{c}/test/images.npy"] != mine[f"{c}/test/images.npy"]


def test_layout(ds):
    meta = json.loads((ds / "meta.json").read_text())
    assert meta["categories"] == list(textures.CATEGORIES) and len(textures.CATEGORIES) == 15
    assert meta["defects"] == ["scratch", "hole", "stain", "crack", "color_spot"]
    assert meta["splits"] == {"train": {"normal": 16}, "test": {"normal": 4, "defective": 6}}
    for c in textures.CATEGORIES:
        train = np.load(ds / c / "train" / "images.npy")
        assert train.shape == (16, 3, 64, 64) and train.dtype == np.uint8
        assert sorted(p.name for p in (ds / c / "test").iterdir()) == ["defects.npy", "images.npy", "labels.npy", "masks.npy"]


@pytest.mark.parametrize("category", textures.CATEGORIES)
def test_defect_masks_mark_changed_pixels(ds, category):
    t = {p.stem: np.load(p, allow_pickle=False) for p in (ds / category / "test").glob("*.npy")}
    labels, masks, kinds = t["labels"], t["masks"], t["defects"]
    assert np.array_equal(labels, (kinds >= 0).astype(np.uint8))
    assert np.array_equal(labels.astype(bool), masks.any(axis=(1, 2)))
    assert sorted(set(kinds[kinds >= 0].tolist())) == list(range(5))  # every kind at least once
    assert masks[labels == 1].sum(axis=(1, 2)).min() >= textures.MIN_DEFECT_PIXELS
    assert masks.mean() < 0.1
    # defect pixels stray further from the normal look than the rest of the image
    ref = np.load(ds / category / "train" / "images.npy").astype(float).mean(axis=0)
    dev = np.abs(t["images"].astype(float) - ref).sum(axis=1)
    bad = np.flatnonzero(labels)
    inside = np.array([dev[i][masks[i]].mean() for i in bad])
    outside = np.array([dev[i][~masks[i]].mean() for i in bad])
    assert (inside > outside).mean() >= 5 / 6, (inside, outside)


def test_full_size_plan():
    assert (textures.N_TRAIN, textures.N_TEST_GOOD, textures.N_TEST_BAD) == (80, 20, 30)
    assert len(textures.TEXTURES) == 5 and len(textures.OBJECTS) == 10
