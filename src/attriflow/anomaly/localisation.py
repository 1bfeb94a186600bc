"""Localising anomalies: attributions of the distillation loss to the input, post-processed, scored.

Maps come from the attribution library on :class:`~attriflow.anomaly.loss.DistillationLoss`
(a module returning the per-image loss), as ``|attribution|`` summed over colour channels.
Post-processing as the authors' code: Gaussian blur with sigma 4, then a 3 x 3 morphological
opening. The authors threshold each map at many levels, open every binary map and integrate the
ROC; a grey opening with a flat 3 x 3 element thresholded at t equals the binary opening of the
map thresholded at t, so the pixel AUROC of the grey-opened map is the same curve without the
threshold grid.

Two protocols (config ``protocol``):
- ``paper``: as the authors ran it: each map min-max normalised per image, pixel AUROC over the
  defective test images only (their README removes the ``good`` test images before localisation).
- ``corrected``: maps on one scale (no per-image normalisation), and every test image counts, so
  normal images' pixels are negatives too: a method that lights up every image is penalised.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from attriflow.errors import UserError

PROTOCOLS = ("paper", "corrected")


def localise(loss_model: nn.Module, images: torch.Tensor, method: str = "gradient", **params) -> np.ndarray:
    """(N, H, W) maps: ``|attribution|`` of the loss, summed over channels, by a registered method."""
    from attriflow.attribution import attribute

    loss_model.eval()
    maps = attribute(loss_model, images, 0, method=method, absolute=True, reduce="sum", **params)
    return maps.detach().double().cpu().numpy()


def postprocess(maps: np.ndarray, sigma: float = 4.0, opening: int = 3, per_image: bool = False) -> np.ndarray:
    """Optional per-image min-max normalisation, Gaussian blur (``sigma`` pixels), grey opening
    with an ``opening`` x ``opening`` flat element (0 or 1: none); returns a new (N, H, W) array."""
    from scipy import ndimage  # on first use: the CLI starts without SciPy

    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 3:
        raise UserError(f"maps must be (N, H, W), got shape {maps.shape}")
    out = np.empty_like(maps)
    for i, m in enumerate(maps):
        if per_image:
            lo, hi = m.min(), m.max()
            m = (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)
        if sigma > 0:
            m = ndimage.gaussian_filter(m, sigma=sigma, mode="reflect")
        if opening > 1:
            m = ndimage.grey_opening(m, size=(opening, opening), mode="reflect")
        out[i] = m
    return out


def pixel_auroc(maps: np.ndarray, masks: np.ndarray, labels: np.ndarray, protocol: str = "corrected") -> float:
    """Pixel AUROC of ``maps`` (N, H, W) against ``masks`` (N, H, W) bool; ``labels`` (N,) 1 = defective.

    ``paper`` counts defective images only; ``corrected`` counts every image (see the module docstring).
    """
    if protocol not in PROTOCOLS:
        raise UserError(f"protocol={protocol!r} is not valid; valid: {', '.join(PROTOCOLS)}")
    maps = np.asarray(maps)
    masks = np.asarray(masks).astype(bool)
    labels = np.asarray(labels).astype(int)
    if maps.shape != masks.shape or len(labels) != len(maps):
        raise UserError(f"maps {maps.shape}, masks {masks.shape} and labels ({len(labels)},) do not match")
    keep = labels == 1 if protocol == "paper" else np.ones(len(labels), dtype=bool)
    y = masks[keep].ravel()
    if not y.any() or y.all():
        raise UserError("pixel AUROC needs defect and defect-free pixels among the scored images")
    from sklearn.metrics import roc_auc_score  # on first use: the CLI starts without scikit-learn

    return float(roc_auc_score(y, maps[keep].ravel()))
