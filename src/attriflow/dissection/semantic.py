"""Semantic attribution: one prediction explained by the concepts of the dissected layer's units.

Unit k's contribution to the explained score s is ``sum_(i,j) a_k(i,j) * ds/da_k(i,j)``
(activation x gradient summed over its map); a concept's contribution is the sum over the units
labelled with it. For a model whose head is global average pooling and a linear layer, a unit's
contribution is exactly ``w_k * mean(a_k)``, the unit's share of the score.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from attriflow.attribution.layers import resolve_layer
from attriflow.attribution.targets import TargetLike, as_target_tensor, class_scores, target_scores
from attriflow.dissection.upsample import Upsampler
from attriflow.errors import UserError


@dataclass
class SemanticAttribution:
    """The explanation of one image's score."""

    score: float
    target: int
    units: pd.DataFrame      # unit, concept, contribution (labelled units only), largest first
    concepts: pd.DataFrame   # concept, contribution, n_units, rank (1 = largest)
    maps: Tensor             # bool (labelled units, H, W): each unit's map above its threshold, in `units` order


def unit_contributions(model: nn.Module, layer: str, x: Tensor, target: TargetLike = None,
                       batch_size: int = 64) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(contributions (N, U), activations (N, U, h, w), scores (N,), targets (N,))`` for images ``x``.

    ``target``: the output explained (int or (N,) tensor); None is the predicted class (the argmax
    of the outputs; output 0 for a model with one output: a regression score or a binary logit).
    """
    module = resolve_layer(model, layer)
    contribs, acts, scores, targets = [], [], [], []
    t_all = as_target_tensor(target, len(x), x.device)
    for start in range(0, len(x), batch_size):
        xb = x[start:start + batch_size]
        held: list[Tensor] = []

        def hook(m, inputs, output):
            leaf = output.detach().requires_grad_()
            held.append(leaf)
            return leaf.clone()  # not the leaf itself: the model may modify it in place (DenseNet's final ReLU)

        handle = module.register_forward_hook(hook)
        try:
            with torch.enable_grad():
                logits = class_scores(model(xb))
                t = logits.argmax(1) if t_all is None else t_all[start:start + batch_size]
                s = target_scores(logits, t)
                if len(held) != 1 or held[0].ndim != 4:
                    raise UserError(f"layer {layer!r} must run once per forward and output (N, units, h, w) maps")
                (grad,) = torch.autograd.grad(s.sum(), held[0])
        finally:
            handle.remove()
        a = held[0].detach()
        contribs.append((a * grad).sum(dim=(2, 3)))
        acts.append(a), scores.append(s.detach()), targets.append(t)
    return torch.cat(contribs), torch.cat(acts), torch.cat(scores), torch.cat(targets)


def concept_contributions(contributions: Tensor, units: pd.DataFrame, concepts: Sequence[str] | None = None) -> pd.DataFrame:
    """Per-concept sums of unit contributions (N, U) over the units ``units`` labels (a
    :func:`~attriflow.dissection.dissect` table), long format: image, concept, contribution,
    n_units, rank (1 = largest contribution of that image). ``concepts`` restricts and orders
    the concepts (default: every labelled one)."""
    labelled = units.dropna(subset=["concept"])
    names = list(dict.fromkeys(labelled["concept"])) if concepts is None else list(concepts)
    if contributions.ndim == 1:
        contributions = contributions[None]
    if not names:
        return pd.DataFrame(columns=["image", "concept", "contribution", "n_units", "rank"])
    index = torch.zeros(contributions.shape[1], len(names), dtype=contributions.dtype)
    for unit, concept in zip(labelled["unit"], labelled["concept"]):
        if concept in names:
            index[int(unit), names.index(concept)] = 1.0
    per = (contributions.detach().cpu() @ index).numpy()  # (N, C)
    n_units = index.sum(0).numpy().astype(int)
    ranks = (-per).argsort(axis=1, kind="stable").argsort(axis=1, kind="stable") + 1
    n = len(per)
    return pd.DataFrame({"image": np.repeat(np.arange(n), len(names)), "concept": np.tile(names, n),
                         "contribution": per.ravel(), "n_units": np.tile(n_units, n), "rank": ranks.ravel()})


def semantic_attribution(model: nn.Module, layer: str, x: Tensor, units: pd.DataFrame, target: TargetLike = None,
                         mask_size: tuple[int, int] | None = None) -> SemanticAttribution:
    """Explain one image ``x`` ((C, H, W) or (1, C, H, W)) by the concepts of ``units`` (a
    :func:`~attriflow.dissection.dissect` table of ``layer``): unit and concept contributions, and
    each labelled unit's map upsampled to ``mask_size`` (default: the image's) above its threshold."""
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or len(x) != 1:
        raise UserError(f"semantic_attribution explains one image, (C, H, W) or (1, C, H, W); got {tuple(x.shape)}")
    contrib, acts, score, t = unit_contributions(model, layer, x, target)
    if len(units) != contrib.shape[1]:
        raise UserError(f"the units table has {len(units)} rows but layer {layer!r} has {contrib.shape[1]} units")
    labelled = units.dropna(subset=["concept"])
    order = labelled.assign(contribution=contrib[0].cpu().numpy()[labelled["unit"].to_numpy()])
    order = order.sort_values("contribution", ascending=False, kind="stable")
    per_concept = concept_contributions(contrib, units).drop(columns="image").sort_values("rank").reset_index(drop=True)
    size = tuple(mask_size) if mask_size is not None else tuple(x.shape[-2:])
    up = Upsampler(tuple(acts.shape[-2:]), size, dtype=acts.dtype, device=acts.device)
    idx = torch.from_numpy(order["unit"].to_numpy(dtype=np.int64, copy=True))
    thresholds = torch.as_tensor(order["threshold"].to_numpy(dtype=np.float64, copy=True), dtype=acts.dtype,
                                 device=acts.device)
    maps = up(acts[0, idx]) > thresholds[:, None, None]
    return SemanticAttribution(score=float(score[0]), target=int(t[0]),
                               units=order[["unit", "concept", "contribution"]].reset_index(drop=True),
                               concepts=per_concept, maps=maps.cpu())
