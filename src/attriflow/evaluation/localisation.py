"""Localisation against ground-truth object masks (beyond the papers: our embedded data has them):
the pointing game (Zhang et al. 2018: is the map's maximum on the object?) and the relevance mass
inside the object (Arras et al. 2022: the share of positive relevance that falls in the mask).
Images with an empty mask score NaN. Same definitions as Quantus' PointingGame and
RelevanceMassAccuracy (which sums the map as given: ``relevance="signed"``).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from attriflow.errors import UserError

RELEVANCE = ("positive", "absolute", "signed")
COLUMNS = ["image", "method", "pointing_game", "relevance_mass"]


def _pair(maps: Tensor, masks: Tensor) -> tuple[Tensor, Tensor]:
    maps, masks = torch.as_tensor(maps), torch.as_tensor(masks)
    if masks.ndim == 4 and masks.shape[1] == 1:
        masks = masks[:, 0]
    if maps.ndim == 4 and maps.shape[1] == 1:
        maps = maps[:, 0]
    if maps.ndim != 3 or masks.shape != maps.shape:
        raise UserError(f"maps (N, H, W) and masks (N, H, W) must match, got {tuple(maps.shape)} and {tuple(masks.shape)}; "
                        "pick one mask plane per image for (N, M, H, W) masks")
    return maps.flatten(1), masks.to(device=maps.device, dtype=torch.bool).flatten(1)


def pointing_game(maps: Tensor, masks: Tensor) -> Tensor:
    """(N,) 1.0 if a pixel where the map is largest lies in the mask, else 0.0 (NaN for an empty mask)."""
    maps, masks = _pair(maps, masks)
    peak = maps == maps.amax(1, keepdim=True)
    hit = (peak & masks).any(1).to(torch.float64)
    return torch.where(masks.any(1), hit, torch.full_like(hit, float("nan")))


def relevance_mass(maps: Tensor, masks: Tensor, relevance: str = "positive") -> Tensor:
    """(N,) share of the map's relevance inside the mask: ``positive`` relevance only (Arras et al.),
    ``absolute`` values, or the ``signed`` map as given (Quantus)."""
    maps, masks = _pair(maps, masks)
    if relevance not in RELEVANCE:
        raise UserError(f"relevance {relevance!r} is not one of {RELEVANCE}")
    maps = maps.to(torch.float64)
    maps = maps.clamp_min(0) if relevance == "positive" else maps.abs() if relevance == "absolute" else maps
    inside = (maps * masks).sum(1)
    total = maps.sum(1)
    share = inside / total
    return torch.where(masks.any(1), share, torch.full_like(share, float("nan")))


def localisation(maps: Mapping[str, Tensor], masks: Tensor, relevance: str = "positive") -> pd.DataFrame:
    """One row per (image, method): pointing_game and relevance_mass of each method's maps against ``masks``."""
    if not isinstance(maps, Mapping) or not maps:
        raise UserError("maps must be a non-empty mapping method name -> (N, H, W) maps")
    frames = []
    for method, m in maps.items():
        hit = pointing_game(m, masks).cpu().numpy()
        frames.append(pd.DataFrame({"image": np.arange(len(hit)), "method": method, "pointing_game": hit,
                                    "relevance_mass": relevance_mass(m, masks, relevance).cpu().numpy()}))
    return pd.concat(frames, ignore_index=True)[COLUMNS]


__all__ = ["COLUMNS", "RELEVANCE", "localisation", "pointing_game", "relevance_mass"]
