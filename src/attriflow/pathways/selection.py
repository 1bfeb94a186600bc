"""Selecting a pathway: one global percentile threshold over the neurons of all layers, per input.

A pathway is a list of masks, one per ReLU layer (shaped like that layer's output, 1 = kept,
0 = removed). At sparsity s (percent removed, 0-100) each input keeps exactly
``round((100 - s) / 100 * T)`` of its T neurons: those with the highest scores over all layers
together (ties broken by torch.topk, deterministically on CPU). Random pruning keeps the same
number, drawn uniformly with a seeded generator.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from attriflow.errors import UserError


def check_sparsity(sparsity: float) -> float:
    """``sparsity`` as a float in [0, 100]; a UserError otherwise."""
    if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float)) or not 0.0 <= float(sparsity) <= 100.0:
        raise UserError(f"sparsity must be a percentage of neurons removed in [0, 100], got {sparsity!r}")
    return float(sparsity)


def kept_count(total: int, sparsity: float) -> int:
    """How many of ``total`` neurons stay at ``sparsity`` percent removed."""
    return int(round((100.0 - check_sparsity(sparsity)) / 100.0 * total))


def flatten_layers(layers: Sequence[Tensor]) -> Tensor:
    """(N, T): every layer's (N, ...) tensor flattened per input and concatenated in layer order."""
    return torch.cat([t.reshape(len(t), -1) for t in layers], dim=1)


def split_layers(flat: Tensor, like: Sequence[Tensor]) -> list[Tensor]:
    """Inverse of :func:`flatten_layers`: (N, T) back into tensors shaped like ``like``."""
    sizes = [t[0].numel() for t in like]
    return [part.reshape(t.shape) for part, t in zip(flat.split(sizes, dim=1), like)]


def top_mask(scores: Tensor, keep: int) -> Tensor:
    """(N, T) float mask with exactly ``keep`` ones per row, at the row's highest ``scores``."""
    n, total = scores.shape
    if keep >= total:
        return torch.ones_like(scores)
    mask = torch.zeros_like(scores)
    if keep <= 0:
        return mask
    if keep <= total - keep:
        mask.scatter_(1, scores.topk(keep, dim=1, sorted=False).indices, 1.0)
    else:  # cheaper to find the removed ones
        mask.fill_(1.0).scatter_(1, scores.topk(total - keep, dim=1, largest=False, sorted=False).indices, 0.0)
    return mask


def select_pathway(scores: Sequence[Tensor], sparsity: float) -> list[Tensor]:
    """Masks keeping each input's top (100 - sparsity)% neurons by ``scores`` over all layers at once."""
    flat = flatten_layers(scores)
    return split_layers(top_mask(flat, kept_count(flat.shape[1], sparsity)), scores)


def random_pathway(like: Sequence[Tensor], sparsity: float, seed: int = 0) -> list[Tensor]:
    """Masks keeping the same number of neurons as :func:`select_pathway`, chosen uniformly at random
    (per input, over all layers) with a generator seeded by ``seed``."""
    n, total = len(like[0]), sum(t[0].numel() for t in like)
    gen = torch.Generator(device=like[0].device).manual_seed(int(seed))
    draws = torch.rand(n, total, generator=gen, device=like[0].device)
    return split_layers(top_mask(draws, kept_count(total, sparsity)), like)


def kept_fraction(masks: Sequence[Tensor]) -> Tensor:
    """(N,) fraction of neurons each input's pathway keeps."""
    return flatten_layers(masks).mean(dim=1)


__all__ = ["check_sparsity", "flatten_layers", "kept_count", "kept_fraction", "random_pathway", "select_pathway",
           "split_layers", "top_mask"]
