"""Localisation: loss-gradient maps peak inside a planted defect; post-processing; both protocols."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attriflow.anomaly import LossSpec, localise, pixel_auroc, postprocess, train_cloner
from attriflow.anomaly.expert import cloner_for
from attriflow.anomaly.loss import DistillationLoss
from attriflow.errors import UserError

from .conftest import SIZE, flat, with_patch

Y, X, S = 8, 18, 6


@pytest.fixture(scope="module")
def loss_model(expert):
    torch.set_num_threads(1)
    cloner = cloner_for({"width": 0.125}, seed=0)
    train_cloner(expert, cloner, flat(96, seed=1), LossSpec(), epochs=15, seed=0)
    return DistillationLoss(expert, cloner, LossSpec()).eval()


@pytest.mark.parametrize("method,params", [("gradient", {}), ("smoothgrad", {"samples": 8, "noise": 0.05, "seed": 0}),
                                           ("integrated_gradients", {"steps": 8})])
def test_maps_peak_inside_the_planted_defect(loss_model, method, params):
    x = with_patch(flat(6, seed=7), seed=8, y=Y, x=X, size=S)
    mask = np.zeros((6, SIZE, SIZE), dtype=bool)
    mask[:, Y : Y + S, X : X + S] = True
    maps = postprocess(localise(loss_model, x, method, **params), sigma=1.0, opening=3)
    # the defect grown by 3 pixels (its edges bleed through the first 3x3 convs and the blur): 144 of
    # 1,024 pixels, so six peaks all landing there by chance has odds below 1e-5
    near = np.zeros((SIZE, SIZE), dtype=bool)
    near[Y - 3 : Y + S + 3, X - 3 : X + S + 3] = True
    for m in maps:
        r, c = np.unravel_index(np.argmax(m), m.shape)
        assert near[r, c], (r, c)
    assert pixel_auroc(maps, mask, np.ones(6), "paper") > 0.85


def test_postprocess_blurs_and_opens():
    m = np.zeros((1, 16, 16))
    m[0, 5, 5] = 1.0  # an isolated spike: a 3x3 opening removes it
    assert postprocess(m, sigma=0, opening=3).max() == 0.0
    m[0, 8:12, 8:12] = 1.0  # a 4x4 block survives the opening
    opened = postprocess(m, sigma=0, opening=3)
    assert opened[0, 8:12, 8:12].min() == 1.0 and opened[0, 5, 5] == 0.0
    blurred = postprocess(m, sigma=4, opening=0)
    assert np.isclose(blurred.sum(), m.sum(), rtol=0.05) and blurred.max() < 1.0
    scaled = postprocess(m * 7 + 2, sigma=0, opening=0, per_image=True)
    assert scaled.min() == 0.0 and scaled.max() == 1.0


def test_protocols_differ_in_the_images_they_count():
    masks = np.zeros((2, 4, 4), dtype=bool)
    masks[0, :2] = True
    maps = np.zeros((2, 4, 4))
    maps[0, :2] = 1.0  # the defective image: perfect
    maps[1] = 1.0      # a normal image lit everywhere
    labels = np.array([1, 0])
    assert pixel_auroc(maps, masks, labels, "paper") == 1.0  # normal images are not counted
    assert pixel_auroc(maps, masks, labels, "corrected") < 0.8  # they are, and they hurt
    with pytest.raises(UserError, match="protocol"):
        pixel_auroc(maps, masks, labels, "test")


def test_map_grid_outlines_the_true_mask(tmp_path):
    from matplotlib.image import imread

    from attriflow.reporting.figures import plot_map_grid

    images, maps = np.full((1, 3, 16, 16), 0.5), {"gradient": np.zeros((1, 16, 16))}
    mask = np.zeros((1, 16, 16), dtype=bool)
    mask[0, 4:12, 4:12] = True
    plain = imread(plot_map_grid(images, maps, tmp_path / "a.png"))
    outlined = imread(plot_map_grid(images, maps, tmp_path / "b.png", masks=mask))
    green = lambda img: ((img[..., 1] > 0.7) & (img[..., 0] < 0.3) & (img[..., 2] < 0.3)).sum()  # noqa: E731
    assert green(plain) == 0 and green(outlined) > 50
