"""Similarity of two batches of maps, as the sanity-check papers measure it: SSIM (window 5),
Spearman rank correlation with and without absolute value, and Pearson correlation of HOG features.

All functions are batched in torch over (N, H, W) maps and return one value per pair (N,).
They reproduce the reference implementations (``skimage.metrics.structural_similarity`` with
``win_size=5``, ``scipy.stats.spearmanr``, ``skimage.feature.hog`` followed by
``scipy.stats.pearsonr``) to float precision; the tests check that.

Conventions of the authors' sanity-check code (PathwayGrad): SSIM and HOG see each map divided by
its largest absolute value, so SSIM's data range is 2 (the span of [-1, 1]); ``ssim_abs`` compares
the absolute maps so divided (data range 1, the span of [0, 1]): a map and its negation score 1,
which matters when a method's sign convention flips with the explained logit (LRP); HOG cells are 16 px
at 224 px input, scaled with the map size here. A constant map has no rank or HOG correlation: NaN.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from attriflow.errors import UserError

SSIM_WINDOW = 5
HOG_ORIENTATIONS = 9
HOG_BLOCK = 3
HOG_CELL_AT_224 = 16


def normalise_max_abs(maps: Tensor) -> Tensor:
    """Each map divided by its largest absolute value (all-zero maps stay zero), as float64."""
    maps = maps.to(torch.float64)
    scale = maps.flatten(1).abs().amax(1).clamp_min(torch.finfo(torch.float64).tiny)
    return maps / scale.view(-1, *([1] * (maps.ndim - 1)))


def ssim(a: Tensor, b: Tensor, window: int = SSIM_WINDOW, data_range: float = 2.0) -> Tensor:
    """Mean structural similarity of each pair of (N, H, W) maps: uniform ``window`` x ``window``
    filter, sample covariance, K1 = 0.01, K2 = 0.03, mean over the valid (uncropped) region."""
    a, b = _pair(a, b)
    if window < 2 or window > min(a.shape[-2:]):
        raise UserError(f"SSIM window {window} must be between 2 and the map size {tuple(a.shape[-2:])}")
    a, b = a.to(torch.float64), b.to(torch.float64)
    stats = box_mean(torch.stack([a, b, a * a, b * b, a * b], dim=1), window)
    ux, uy, uxx, uyy, uxy = stats.unbind(1)
    cov_norm = window * window / (window * window - 1.0)
    vx, vy, vxy = cov_norm * (uxx - ux * ux), cov_norm * (uyy - uy * uy), cov_norm * (uxy - ux * uy)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s.flatten(1).mean(1)


def average_ranks(values: Tensor) -> Tensor:
    """Ranks 1..F along the last axis of (N, F) values, ties sharing their average rank (scipy's ``rankdata``)."""
    values = values.flatten(1)
    n, f = values.shape
    ordered, order = _sort_rows(values)
    starts = torch.ones_like(ordered, dtype=torch.bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    if bool(starts.all()):  # no ties: the rank is the position
        position = torch.arange(1, f + 1, dtype=torch.float64, device=values.device).expand(n, f)
        return torch.empty(n, f, dtype=torch.float64, device=values.device).scatter_(1, order, position)
    group = starts.cumsum(1) - 1 + torch.arange(n, device=values.device).unsqueeze(1) * f
    position = torch.arange(1, f + 1, dtype=torch.float64, device=values.device).expand(n, f)
    total = torch.zeros(n * f, dtype=torch.float64, device=values.device).index_add_(0, group.flatten(), position.flatten())
    count = torch.zeros(n * f, dtype=torch.float64, device=values.device).index_add_(
        0, group.flatten(), torch.ones(n * f, dtype=torch.float64, device=values.device))
    mean_rank = (total / count.clamp_min(1))[group]
    return torch.empty_like(mean_rank).scatter_(1, order, mean_rank)


def _sort_rows(values: Tensor) -> tuple[Tensor, Tensor]:
    """Each row sorted, with the sorting indices; tied values may come in any order (their ranks
    are averaged). On the CPU numpy's vectorised sort is several times faster than torch's."""
    if values.device.type != "cpu":
        return torch.sort(values, dim=1)
    array = values.detach().numpy()
    order = np.argsort(array, axis=1)
    return torch.from_numpy(np.take_along_axis(array, order, axis=1)), torch.from_numpy(order)


def box_mean(images: Tensor, window: int) -> Tensor:
    """Mean over every ``window`` x ``window`` box fully inside (N, C, H, W) images (separable running sums)."""
    def along(t: Tensor, dim: int) -> Tensor:
        c = t.cumsum(dim)
        first = c.narrow(dim, window - 1, 1)
        rest = c.narrow(dim, window, c.shape[dim] - window) - c.narrow(dim, 0, c.shape[dim] - window)
        return torch.cat([first, rest], dim)

    return along(along(images, -1), -2) / (window * window)


def standardise(values: Tensor) -> Tensor:
    """Rows of (N, F) centred and scaled to unit norm, so a dot product is Pearson's r (NaN for constant rows)."""
    values = values.flatten(1).to(torch.float64)
    centred = values - values.mean(1, keepdim=True)
    norm = centred.norm(dim=1, keepdim=True)
    return centred / torch.where(norm > 0, norm, torch.full_like(norm, float("nan")))


def pearson(a: Tensor, b: Tensor) -> Tensor:
    """Pearson correlation of each pair of rows."""
    a, b = _pair(a, b)
    return (standardise(a) * standardise(b)).sum(1)


def spearman(a: Tensor, b: Tensor, absolute: bool = False) -> Tensor:
    """Spearman rank correlation of each pair of maps (of their absolute values with ``absolute``)."""
    a, b = _pair(a, b)
    if absolute:
        a, b = a.abs(), b.abs()
    return (standardise(average_ranks(a)) * standardise(average_ranks(b))).sum(1)


def default_hog_cell(height: int, width: int) -> int:
    """The authors' 16 px HOG cell at 224 px, scaled to a map of this size (at least 2 px)."""
    return max(2, round(HOG_CELL_AT_224 * min(height, width) / 224))


def hog_features(maps: Tensor, cell: int | None = None, orientations: int = HOG_ORIENTATIONS,
                 block: int = HOG_BLOCK) -> Tensor:
    """HOG descriptors (N, D) of (N, H, W) maps as ``skimage.feature.hog`` computes them: central
    differences, unsigned orientations in ``orientations`` bins, ``cell`` x ``cell`` pixel cells,
    ``block`` x ``block`` cell blocks with L2-Hys normalisation. ``cell=None``: :func:`default_hog_cell`."""
    maps = maps.to(torch.float64)
    n, h, w = maps.shape
    cell = default_hog_cell(h, w) if cell is None else int(cell)
    rows, cols = h // cell, w // cell
    if rows < block or cols < block:
        raise UserError(f"HOG of {h}x{w} maps needs at least {block} cells of {cell} px per side; pass a smaller cell")
    g_row = torch.zeros_like(maps)
    g_col = torch.zeros_like(maps)
    g_row[:, 1:-1, :] = maps[:, 2:, :] - maps[:, :-2, :]
    g_col[:, :, 1:-1] = maps[:, :, 2:] - maps[:, :, :-2]
    g_row, g_col = g_row[:, : rows * cell, : cols * cell], g_col[:, : rows * cell, : cols * cell]
    magnitude = torch.hypot(g_row, g_col)
    angle = torch.remainder(torch.rad2deg(torch.atan2(g_row, g_col)), 180.0)
    bins = torch.div(angle, 180.0 / orientations, rounding_mode="floor").long().clamp_(0, orientations - 1)
    # each pixel votes its magnitude into (image, cell, bin): one weighted bincount
    r = torch.arange(rows * cell, device=maps.device) // cell
    c = torch.arange(cols * cell, device=maps.device) // cell
    cells = (torch.arange(n, device=maps.device).view(n, 1, 1) * rows + r.view(1, -1, 1)) * cols + c.view(1, 1, -1)
    hist = torch.bincount((cells * orientations + bins).flatten(), weights=magnitude.flatten(),
                          minlength=n * rows * cols * orientations).view(n, rows, cols, orientations) / (cell * cell)
    blocks = hist.unfold(1, block, 1).unfold(2, block, 1)  # (n, br, bc, o, block, block)
    blocks = blocks.permute(0, 1, 2, 4, 5, 3).flatten(3)  # skimage order: block row, block col, cell r, cell c, o
    eps2 = 1e-5 ** 2
    blocks = blocks / torch.sqrt((blocks * blocks).sum(3, keepdim=True) + eps2)
    blocks = blocks.clamp(max=0.2)
    blocks = blocks / torch.sqrt((blocks * blocks).sum(3, keepdim=True) + eps2)
    return blocks.flatten(1)


@dataclass(frozen=True)
class Measure:
    """A similarity as two steps, so a reference map's features are computed once and reused:
    ``features(maps)`` per map, then ``score(features_a, features_b)`` per pair."""

    name: str
    features: Callable[[Tensor], Tensor]
    score: Callable[[Tensor, Tensor], Tensor]
    description: str

    def __call__(self, a: Tensor, b: Tensor) -> Tensor:
        a, b = _pair(a, b)
        return self.score(self.features(a), self.features(b))


def _dot(a: Tensor, b: Tensor) -> Tensor:
    return (a * b).sum(1)


MEASURES: dict[str, Measure] = {
    m.name: m
    for m in (
        Measure("ssim", normalise_max_abs, ssim, "SSIM (window 5, data range 2) of maps divided by their max |value|"),
        Measure("ssim_abs", lambda m: normalise_max_abs(m.abs()), lambda a, b: ssim(a, b, data_range=1.0),
                "SSIM (window 5, data range 1) of the absolute maps divided by their max"),
        Measure("spearman", lambda m: standardise(average_ranks(m)), _dot, "Spearman rank correlation of the signed maps"),
        Measure("spearman_abs", lambda m: standardise(average_ranks(m.abs())), _dot,
                "Spearman rank correlation of the absolute maps"),
        Measure("hog", lambda m: standardise(hog_features(normalise_max_abs(m))), _dot,
                "Pearson correlation of HOG features of maps divided by their max |value|"),
    )
}


def get_measure(name: str) -> Measure:
    """The registered measure ``name`` (``ssim``, ``ssim_abs``, ``spearman``, ``spearman_abs``, ``hog``)."""
    try:
        return MEASURES[name]
    except KeyError:
        raise UserError(f"unknown similarity measure {name!r}; valid: {', '.join(MEASURES)}") from None


def similarity(a: Tensor, b: Tensor, measure: str = "ssim") -> Tensor:
    """One value per pair of (N, H, W) maps by the named measure."""
    return get_measure(measure)(a, b)


def _pair(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    if a.shape != b.shape or a.ndim < 2:
        raise UserError(f"maps to compare must have the same (N, ...) shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    return a, b


def check_measures(measures) -> tuple[str, ...]:
    """Measure names validated, in the given order."""
    if isinstance(measures, str):
        measures = (measures,)
    names = tuple(measures)
    if not names:
        raise UserError(f"measures must name at least one of {', '.join(MEASURES)}")
    for name in names:
        get_measure(name)
    return names


__all__ = [
    "MEASURES", "Measure", "average_ranks", "check_measures", "default_hog_cell", "get_measure", "hog_features",
    "normalise_max_abs", "pearson", "similarity", "spearman", "ssim", "standardise",
]
