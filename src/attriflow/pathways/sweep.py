"""Pathway gradient over sparsity (pathways experiment 3): how the map and its scores change.

For each sparsity s: the maps (signed max over channels by default, the papers' reduction), the
masked network's response (|p - p0| / p0 of the target class), the LeRF pixel-perturbation score
(|Δp| / p after removing the 10% least relevant pixels, lower is better) and the Spearman rank
correlation of |map| with the plain gradient's |map| (s = 0 is the gradient itself).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from attriflow.attribution import attribute
from attriflow.evaluation.perturbation import perturbation_probabilities
from attriflow.evaluation.similarity import spearman
from attriflow.pathways.methods import pathway
from attriflow.pathways.statistics import response_table

COLUMNS = ["method", "sparsity", "image", "kept_fraction", "response_rel_change", "same_prediction",
           "lerf_rel_change_10", "spearman_abs_to_gradient"]


def sparsity_sweep(model: nn.Module, x: Tensor, target: Tensor, sparsities: Sequence[float], *,
                   method: str = "pathway_gradient", params: dict[str, Any] | None = None, reduce: str = "max_abs",
                   batch_size: int = 64) -> tuple[pd.DataFrame, dict[str, Tensor]]:
    """(rows of COLUMNS, {"s=<sparsity>": (N, H, W) maps}) for every sparsity."""
    params = dict(params or {})
    contributions = "intgrad" if method == "pathway_gradient" else "mct"
    extra = {k: v for k, v in params.items() if k in ("steps",)}
    with torch.no_grad():
        p0 = torch.softmax(model(x).float(), 1).gather(1, target[:, None])[:, 0]
    gradient = attribute(model, x, target, "gradient", reduce=reduce)
    frames, maps = [], {}
    for s in tqdm(sparsities, desc=f"{method} sparsity sweep"):
        m = attribute(model, x, target, method, sparsity=float(s), reduce=reduce, **params)
        maps[f"s={s:g}"] = m
        masks = pathway(model, x, target, contributions=contributions, sparsity=float(s), batch_size=batch_size, **extra)
        resp = response_table(model, x, target, masks)
        p = perturbation_probabilities(model, x, m, target, [0.1], order="lerf", batch_size=batch_size)[:, 0]
        frames.append(pd.DataFrame({
            "method": method, "sparsity": float(s), "image": np.arange(len(x)),
            "kept_fraction": resp["kept_fraction"], "response_rel_change": resp["rel_change"],
            "same_prediction": resp["same_prediction"],
            "lerf_rel_change_10": ((p - p0).abs() / p0).cpu().numpy(),
            "spearman_abs_to_gradient": spearman(m, gradient, absolute=True).cpu().numpy(),
        }))
    return pd.concat(frames, ignore_index=True)[COLUMNS], maps


__all__ = ["COLUMNS", "sparsity_sweep"]
