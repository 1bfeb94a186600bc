"""Pixel perturbation (Srinivas and Fleuret 2019; PruneGrad's benchmark): remove the least (LeRF)
or most (MoRF) relevant pixels, fill them with the mean colour, and measure the relative change
|p - p0| / p0 of the probability of the target class. For LeRF lower is better. The probability
is the head's (``head``: softmax for multiclass, sigmoid for binary and multilabel, softmax within
a zone; regression is refused), decided in :mod:`attriflow.models.heads`.

Each image's removal order is computed once (per map and order); every step of a chunk of (image, step) pairs is
built by thresholding that order and all of them go through the model in one forward pass of at
most ``batch_size`` images, so the cost is the forward passes themselves and memory is bounded by
the chunk. Removal is cumulative by construction: step k removes the first k% of the order.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from attriflow.errors import UserError
from attriflow.evaluation.batching import as_targets, check_images, check_maps, chunks, predict_logits
from attriflow.evaluation.masking import Fill, fill_colour, removal_ranks, removed_count, replace_pixels
from attriflow.models.heads import check_head, target_probability

ORDERS = {"morf": True, "lerf": False}  # order -> most relevant first
DEFAULT_FRACTIONS = tuple(k / 100 for k in range(1, 11))
COLUMNS = ["image", "method", "order", "fraction", "removed", "p_original", "p", "rel_change"]


@torch.no_grad()
def perturbation_probabilities(
    model: nn.Module,
    x: Tensor,
    maps: Tensor,
    target: int | Tensor,
    fractions: Sequence[float],
    *,
    order: str = "lerf",
    fill: Fill = "channel_mean",
    absolute: bool = False,
    seed: int = 0,
    batch_size: int = 64,
    head: str = "multiclass",
) -> Tensor:
    """(N, len(fractions)): the target's probability (of ``head``) after removing each fraction of the
    pixels of each image in ``order`` (``lerf`` least relevant first, ``morf`` most relevant first)
    of its map (of |map| with ``absolute``; ties broken at random from ``seed``), replaced by the fill
    colour (see ``masking.fill_colour``; ``channel_mean`` is taken over ``x``)."""
    x = check_images(x)
    maps = check_maps(maps, x).to(x.device)
    _check_probability_head(head)
    if order not in ORDERS:
        raise UserError(f"perturbation order {order!r} is not one of {tuple(ORDERS)}")
    if len(fractions) == 0:
        raise UserError("fractions is empty: give at least one fraction in [0, 1]")
    n, steps = len(x), len(fractions)
    targets = as_targets(target, n, x.device)
    counts = torch.tensor([removed_count(f, x.shape[-2] * x.shape[-1]) for f in fractions], device=x.device)
    colour = fill_colour(x, fill)
    out = torch.empty(n * steps, dtype=torch.float32, device=x.device)
    # ranks of the images held_from ... held_from + len(held) - 1: each image is ranked once, and an
    # image whose steps fall into two chunks keeps its ranks for the second
    held, held_from = torch.empty(0, maps.shape[-2] * maps.shape[-1], dtype=torch.long, device=x.device), 0
    for part in chunks(n * steps, batch_size):
        flat = torch.arange(part.start, part.stop, device=x.device)
        image, step = flat // steps, flat % steps
        first, last = int(image[0]), int(image[-1]) + 1
        held_to = held_from + len(held)
        m = maps[max(first, held_to):last]
        fresh = removal_ranks(m.abs() if absolute else m, descending=ORDERS[order], seed=seed,
                              first_index=max(first, held_to))
        held, held_from = torch.cat([held[max(0, first - held_from):], fresh]), first
        rows = colour if colour.shape[0] == 1 else colour[image]
        logits = model(replace_pixels(x[image], held[image - first], counts[step], rows))
        out[part] = target_probability(head, logits, targets[image])
    return out.view(n, steps)


def pixel_perturbation(
    model: nn.Module,
    x: Tensor,
    maps: Mapping[str, Tensor],
    target: int | Tensor | None = None,
    *,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    orders: Sequence[str] = ("lerf", "morf"),
    fill: Fill = "channel_mean",
    absolute: bool = False,
    seed: int = 0,
    batch_size: int = 64,
    head: str = "multiclass",
) -> pd.DataFrame:
    """One row per (image, method, order, fraction): p_original, p after removal, and
    rel_change = |p - p_original| / p_original of the target class (default target: the predicted
    class of ``head``). ``maps``: method name -> (N, H, W) maps of ``x``. The fill colour is fixed once for
    all methods (``channel_mean``: over ``x``; pass a colour to share it across calls); ties in a map
    are broken at random from ``seed``."""
    x = check_images(x)
    _check_probability_head(head)
    if not isinstance(maps, Mapping) or not maps:
        raise UserError("maps must be a non-empty mapping method name -> (N, H, W) maps")
    for order in orders:
        if order not in ORDERS:
            raise UserError(f"perturbation order {order!r} is not one of {tuple(ORDERS)}")
    colour = fill_colour(x, fill)
    logits = predict_logits(model, x, batch_size)
    targets = as_targets(target, len(x), x.device, logits=lambda: logits, head=head)
    p0 = target_probability(head, logits, targets).cpu().numpy()
    removed = [removed_count(f, x.shape[-2] * x.shape[-1]) for f in fractions]
    frames = []
    for method, m in maps.items():
        for order in orders:
            p = perturbation_probabilities(model, x, m, targets, fractions, order=order, fill=colour,
                                           absolute=absolute, seed=seed, batch_size=batch_size,
                                           head=head).cpu().numpy()
            n, s = p.shape
            frames.append(pd.DataFrame({
                "image": np.repeat(np.arange(n), s), "method": method, "order": order,
                "fraction": np.tile(np.asarray(fractions, dtype=np.float64), n),
                "removed": np.tile(np.asarray(removed), n), "p_original": np.repeat(p0, s).astype(np.float64),
                "p": p.ravel().astype(np.float64),
            }))
    df = pd.concat(frames, ignore_index=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        df["rel_change"] = np.abs(df["p"] - df["p_original"]) / df["p_original"]
    return df[COLUMNS]


def _check_probability_head(head: str) -> None:
    if check_head(head) == "regression":
        raise UserError("pixel perturbation measures the change of a class probability; a regression head "
                        "has none (use a multiclass, binary, multilabel or zones run)")


def perturbation_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Mean, standard error and count of rel_change per (method, order, fraction)."""
    g = df.groupby(["method", "order", "fraction"], sort=True)["rel_change"]
    out = g.agg(mean="mean", sem="sem", n="count").reset_index()
    return out


__all__ = ["COLUMNS", "DEFAULT_FRACTIONS", "ORDERS", "perturbation_probabilities", "perturbation_summary", "pixel_perturbation"]
