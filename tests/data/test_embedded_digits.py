"""digits: scikit-learn's real digits, exactly upsampled, with a fixed stratified split."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from attriflow.data.embedded import digits

from .conftest import digest


@pytest.fixture(scope="module")
def ds(tmp_path_factory) -> Path:
    return digits.generate(tmp_path_factory.mktemp("digits") / "digits", seed=0)


def test_reproducible_and_seeded(ds, tmp_path):
    assert digest(digits.generate(tmp_path / "a" / "digits", seed=0)) == digest(ds)
    other = digest(digits.generate(tmp_path / "b" / "digits", seed=1))
    assert other["train/source_index.npy"] != digest(ds)["train/source_index.npy"]


def test_split_is_a_stratified_partition(ds):
    meta = json.loads((ds / "meta.json").read_text())
    tr, te = (np.load(ds / s / "source_index.npy") for s in ("train", "test"))
    assert meta["splits"] == {"train": len(tr), "test": len(te)}
    assert sorted(np.concatenate([tr, te]).tolist()) == list(range(1797))
    ytr, yte = np.load(ds / "train" / "labels.npy"), np.load(ds / "test" / "labels.npy")
    share = np.bincount(ytr, minlength=10) / (np.bincount(ytr, minlength=10) + np.bincount(yte, minlength=10))
    assert np.allclose(share, 0.75, atol=0.02)
    assert ytr[:20].tolist() != sorted(ytr[:20].tolist())  # shuffled


def test_images_are_the_real_digits_upsampled(ds):
    from sklearn.datasets import load_digits

    d = load_digits()
    idx = np.load(ds / "train" / "source_index.npy")
    imgs = np.load(ds / "train" / "images.npy")
    assert imgs.shape == (len(idx), 1, 32, 32) and imgs.dtype == np.uint8
    assert np.array_equal(np.load(ds / "train" / "labels.npy"), d.target[idx])
    # an independent float bilinear upsampling (pixel centres, edges clamped) agrees to rounding
    ref = F.interpolate(torch.tensor(d.images[idx][:, None] * 255 / 16), scale_factor=4, mode="bilinear", align_corners=False)
    assert np.abs(ref.numpy() - imgs.astype(float)).max() <= 0.5 + 1e-6
