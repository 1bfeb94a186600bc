"""Dissection engine: the reference's thresholds and IoUs exactly, boxes = masks, planted units found."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from attriflow.dissection import (
    Upsampler, boxes_to_masks, dissect, dissect_layer, dissect_reference, linear_matrix,
)
from attriflow.errors import UserError

from .conftest import Passthrough, PlantedNet, shapes_probe


def random_case(n=16, units=5, map_size=8, k=3, mask_size=32, integer=False, seed=0):
    """Random activations and concept blobs; units 0..k-1 lean towards concept 0..k-1 so that IoUs
    are far from zero (integer activations: many ties at the thresholds)."""
    g = torch.Generator().manual_seed(seed)
    low = torch.randn(n, k, 4, 4, generator=g)
    masks = F.interpolate(low, size=mask_size, mode="bilinear", align_corners=False) > 0.8
    lean = F.adaptive_avg_pool2d(masks.float(), map_size)
    acts = torch.randn(n, units, map_size, map_size, generator=g)
    acts[:, :k] += 3 * lean
    if integer:
        acts = (acts * 2).round()
    return acts, masks


@pytest.mark.parametrize("integer", [False, True])
@pytest.mark.parametrize("quantile", [0.995, 0.9, 0.5])
def test_thresholds_and_iou_equal_the_reference_exactly(integer, quantile):
    acts, masks = random_case(integer=integer)
    model = Passthrough().eval()
    fast = dissect_layer(model, "features", (acts, masks), quantile=quantile, batch_size=7, progress=False)
    ref = dissect_reference(model, "features", (acts, masks), quantile=quantile, batch_size=7)
    assert torch.equal(fast.thresholds, ref.thresholds)
    assert torch.equal(fast.intersection, ref.intersection)
    assert torch.equal(fast.unit_pixels, ref.unit_pixels)
    assert torch.equal(fast.iou, ref.iou)
    assert (fast.intersection.diagonal() > 0).all()  # not trivially empty: leaning units meet their concepts
    pd_fast, pd_ref = fast.labels(0.04), ref.labels(0.04)
    assert pd_fast.equals(pd_ref)


def test_threshold_is_the_exact_quantile_whatever_the_batching():
    """The streaming top-m threshold has error bound zero: numpy's quantile, nearest rank from above."""
    acts, masks = random_case(n=40, units=6, mask_size=8, integer=False, seed=3)
    model = Passthrough().eval()
    expected = [np.quantile(acts[:, u].numpy().ravel(), 0.995, method="higher") for u in range(6)]
    for batch_size in (1, 7, 64):
        got = dissect_layer(model, "features", (acts, masks), batch_size=batch_size, progress=False).thresholds
        assert got.tolist() == pytest.approx(expected, abs=0)
    # top 0.5% of 40 * 64 = 2560 values: 12.8 values lie above the threshold at most 13
    above = (acts.transpose(0, 1).reshape(6, -1) > got[:, None]).sum(1)
    assert (above <= 13).all() and (above >= 12).all()


def test_non_dyadic_upsampling_agrees_within_rounding():
    """At a scale whose weights are not exact in float32 the matrix form and F.interpolate differ
    in the last bit, so a few pixels at the threshold may flip: IoUs agree to 1e-3."""
    acts, masks = random_case(n=8, map_size=7, mask_size=30, seed=5)
    model = Passthrough().eval()
    fast = dissect_layer(model, "features", (acts, masks), quantile=0.9, progress=False)
    ref = dissect_reference(model, "features", (acts, masks), quantile=0.9)
    assert torch.equal(fast.thresholds, ref.thresholds)
    assert (fast.iou - ref.iou).abs().max() < 1e-3


@pytest.mark.parametrize("sizes", [((7, 7), (56, 56)), ((8, 5), (64, 33)), ((3, 4), (3, 4)), ((2, 9), (17, 50))])
def test_upsampler_is_bilinear_interpolation(sizes):
    (h, w), (H, W) = sizes
    a = torch.randn(3, 4, h, w)
    expected = F.interpolate(a, size=(H, W), mode="bilinear", align_corners=False)
    torch.testing.assert_close(Upsampler((h, w), (H, W))(a), expected, rtol=1e-5, atol=1e-5)
    m = linear_matrix(h, H, dtype=torch.float64)
    torch.testing.assert_close(m.sum(1), torch.ones(H, dtype=torch.float64))  # rows are convex weights


def test_boxes_and_masks_give_the_same_iou():
    g = torch.Generator().manual_seed(1)
    n, k = 20, 3
    boxes = torch.full((n, k, 2, 4), -1, dtype=torch.int16)
    masks = torch.zeros(n, k, 64, 64, dtype=torch.bool)
    for i in range(n):
        for c in range(k):
            for j in range(int(torch.randint(0, 3, (1,), generator=g))):
                y0, x0 = torch.randint(0, 50, (2,), generator=g).tolist()
                hh, ww = torch.randint(1, 14, (2,), generator=g).tolist()
                boxes[i, c, j] = torch.tensor([y0, x0, y0 + hh - 1, x0 + ww - 1])
                masks[i, c, y0:y0 + hh, x0:x0 + ww] = True
    images = torch.rand(n, 2, 64, 64, generator=g) + masks[:, :2].float()
    model = PlantedNet().eval()
    for mask_size in (None, 32, (20, 24)):
        from_boxes = dissect_layer(model, "features", (images, boxes), mask_size=mask_size, quantile=0.9, progress=False)
        from_masks = dissect_layer(model, "features", (images, masks), mask_size=mask_size, quantile=0.9, progress=False)
        assert torch.equal(from_boxes.iou, from_masks.iou)
        assert from_boxes.iou.max() > 0.1
    # a box keeps every scoring pixel it touches: a 1-pixel box is never lost when shrinking
    one = torch.tensor([[[5, 5, 5, 5]]])
    assert boxes_to_masks(one, (64, 64), (7, 7)).sum() == 1


def test_a_planted_unit_is_labelled_with_its_concept(planted):
    images, masks = shapes_probe(60)
    units = dissect(planted, layer="features", data=(images, masks), concepts=["disc", "square"],
                    quantile=0.95, batch_size=16, progress=False)
    assert list(units.columns) == ["unit", "concept", "iou", "threshold"]
    assert units.loc[0, "concept"] == "disc" and units.loc[0, "iou"] > 0.3
    assert units.loc[1, "concept"] == "square" and units.loc[1, "iou"] > 0.3
    assert units.loc[2, "concept"] != "disc"  # the anti-disc unit fires away from discs
    assert pd.isna(units.loc[3, "concept"])  # a constant unit covers nothing (its threshold is its value)


def test_the_forward_pass_stops_at_the_layer():
    class Exploding(PlantedNet):
        def forward(self, x):
            features = self.features(x)
            raise AssertionError("the head ran")  # never reached when dissecting `features`

    images, masks = shapes_probe(8)
    model = Exploding().eval()
    dissect(model, "features", (images, masks), progress=False)
    assert not model.features._forward_hooks  # hook removed


def test_imageset_probe_uses_its_mask_names(planted):
    from attriflow.data.imageset import ImageSet

    images, masks = shapes_probe(24)
    data = ImageSet(images=images, targets=torch.zeros(24), task="regression", masks=masks, mask_names=["disc", "square"])
    units = dissect(planted, "features", data, quantile=0.95, progress=False)
    assert units.loc[0, "concept"] == "disc"


def test_clear_errors(planted):
    images, masks = shapes_probe(4)
    with pytest.raises(UserError, match="quantile"):
        dissect(planted, "features", (images, masks), quantile=1.5)
    with pytest.raises(UserError, match="2 concept planes"):
        dissect(planted, "features", (images, masks), concepts=["a", "b", "c"], progress=False)
    with pytest.raises(UserError, match="unknown layer"):
        dissect(planted, "nope", (images, masks), progress=False)
    with pytest.raises(UserError, match=r"\(N, units, h, w\)"):
        dissect(planted, "head", (images, masks), progress=False)
    with pytest.raises(UserError, match="bool"):
        dissect(planted, "features", (images, masks.float()), progress=False)
    with pytest.raises(UserError, match="empty"):
        dissect(planted, "features", (images[:0], masks[:0]), progress=False)


def test_dataloader_probe_equals_tensor_probe(planted):
    images, masks = shapes_probe(20)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, masks), batch_size=6)
    a = dissect_layer(planted, "features", loader, progress=False)
    b = dissect_layer(planted, "features", (images, masks), batch_size=20, progress=False)
    assert torch.equal(a.iou, b.iou) and torch.equal(a.thresholds, b.thresholds)
    with torch.no_grad():
        assert isinstance(planted.features[0], nn.Conv2d)
