"""The torch similarity measures reproduce skimage / scipy on the same maps."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
import torch
from skimage.feature import hog
from skimage.metrics import structural_similarity

from attriflow.errors import UserError
from attriflow.evaluation.similarity import (
    MEASURES, average_ranks, default_hog_cell, hog_features, normalise_max_abs, similarity, spearman, ssim,
)


def pairs(n=5, size=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, size, size, generator=g)
    b = 0.6 * a + torch.randn(n, size, size, generator=g)
    a[0, :8] = 0.0  # many ties
    b[1] = b[1].clamp_min(0)  # ReLU-like map: ties at zero
    a[2] = a[2].round()  # integer-valued: ties everywhere
    return a, b


def test_ssim_equals_skimage_window_5():
    a, b = pairs()
    na, nb = normalise_max_abs(a), normalise_max_abs(b)
    ref = [structural_similarity(x.numpy(), y.numpy(), win_size=5, data_range=2.0) for x, y in zip(na, nb)]
    np.testing.assert_allclose(ssim(na, nb).numpy(), ref, rtol=0, atol=1e-6)  # skimage filters float32 maps in float32
    np.testing.assert_allclose(similarity(a, b, "ssim").numpy(), ref, rtol=0, atol=1e-6)  # skimage filters float32 maps in float32


def test_ssim_abs_equals_skimage_on_absolute_maps_and_ignores_the_sign():
    a, b = pairs(seed=5)
    na, nb = normalise_max_abs(a.abs()), normalise_max_abs(b.abs())
    ref = [structural_similarity(x.numpy(), y.numpy(), win_size=5, data_range=1.0) for x, y in zip(na, nb)]
    np.testing.assert_allclose(similarity(a, b, "ssim_abs").numpy(), ref, rtol=0, atol=1e-6)
    np.testing.assert_allclose(similarity(a, -a, "ssim_abs").numpy(), 1.0, atol=1e-12)
    assert (similarity(a[3:], -a[3:], "ssim") < 0.9).all()  # the signed SSIM sees a flipped map as different


def test_ssim_other_window_and_range():
    a, b = pairs(seed=3)
    ref = [structural_similarity(x.numpy(), y.numpy(), win_size=7, data_range=5.0) for x, y in zip(a, b)]
    np.testing.assert_allclose(ssim(a, b, window=7, data_range=5.0).numpy(), ref, atol=1e-6)  # skimage filters float32 maps in float32


def test_average_ranks_equal_scipy_rankdata_with_ties():
    a, _ = pairs()
    ranks = average_ranks(a)
    for row, ours in zip(a, ranks):
        np.testing.assert_array_equal(ours.numpy(), scipy.stats.rankdata(row.flatten().numpy()))


@pytest.mark.parametrize("absolute", [False, True])
def test_spearman_equals_scipy(absolute):
    a, b = pairs()
    f = (lambda t: t.abs()) if absolute else (lambda t: t)
    ref = [scipy.stats.spearmanr(f(x).flatten(), f(y).flatten())[0] for x, y in zip(a, b)]
    np.testing.assert_allclose(spearman(a, b, absolute=absolute).numpy(), ref, atol=1e-12)
    name = "spearman_abs" if absolute else "spearman"
    np.testing.assert_allclose(similarity(a, b, name).numpy(), ref, atol=1e-12)


@pytest.mark.parametrize("cell", [None, 3])
def test_hog_features_equal_skimage(cell):
    a, _ = pairs(size=30)
    na = normalise_max_abs(a)
    c = default_hog_cell(30, 30) if cell is None else cell
    ref = np.stack([hog(x.numpy(), orientations=9, pixels_per_cell=(c, c), cells_per_block=(3, 3),
                        block_norm="L2-Hys") for x in na])
    ours = hog_features(na, cell=cell).numpy()
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=1e-6)


def test_hog_similarity_is_pearson_of_skimage_hog():
    a, b = pairs(size=32)
    c = default_hog_cell(32, 32)
    ref = [scipy.stats.pearsonr(hog(x.numpy(), pixels_per_cell=(c, c)), hog(y.numpy(), pixels_per_cell=(c, c)))[0]
           for x, y in zip(normalise_max_abs(a), normalise_max_abs(b))]
    np.testing.assert_allclose(similarity(a, b, "hog").numpy(), ref, atol=1e-6)


def test_default_hog_cell_is_the_papers_16px_at_224():
    assert default_hog_cell(224, 224) == 16
    assert default_hog_cell(64, 64) == 5


@pytest.mark.parametrize("name", sorted(MEASURES))
def test_identical_maps_score_one_and_constant_maps_nan(name):
    a, _ = pairs()
    np.testing.assert_allclose(similarity(a, a.clone(), name).numpy(), 1.0, atol=1e-12)
    flat = torch.ones(2, 24, 24)
    values = similarity(flat, torch.randn(2, 24, 24), name)
    if name.startswith("ssim"):  # SSIM of a constant map is defined (low), the correlations are not
        assert torch.isfinite(values).all() and (values < 0.5).all()
    else:
        assert all(math.isnan(v) for v in values.tolist())


def test_errors_name_the_problem():
    with pytest.raises(UserError, match="unknown similarity measure 'cosine'"):
        similarity(torch.zeros(1, 8, 8), torch.zeros(1, 8, 8), "cosine")
    with pytest.raises(UserError, match="same"):
        ssim(torch.zeros(1, 8, 8), torch.zeros(1, 9, 9))
    with pytest.raises(UserError, match="HOG"):
        hog_features(torch.zeros(1, 5, 5), cell=2)
