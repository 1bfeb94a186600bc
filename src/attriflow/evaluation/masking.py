"""Removing pixels by their relevance: the fill colour, the removal order, and the masked images
that pixel perturbation and ROAR both use.

A pixel is removed in all channels at once and replaced by a fill colour. Pixels are ordered by
their map value (most relevant first for ``descending=True``); ties are broken at random, by a
permutation drawn from (``seed``, the image's index) only, so plateaus (GradCAM's zeros after its
ReLU, RectGrad, guided backprop) are not removed in raster order, and the k removed pixels are
always exactly k and the same on every run whatever the chunking. ``fraction`` f removes
``floor(f * H * W)`` pixels (RoarTorch's rounding).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor

from attriflow.errors import UserError
from attriflow.evaluation.batching import check_images, check_maps, chunks

FILLS = ("channel_mean", "image_channel_mean")
Fill = str | float | Sequence[float] | Tensor


def fill_colour(images: Tensor, fill: Fill = "channel_mean") -> Tensor:
    """The replacement colour as a tensor broadcastable to ``images`` (N, C, H, W): (1, C, 1, 1) or (N, C, 1, 1).

    ``channel_mean``: the per-channel mean over all ``images`` (the data set's mean colour);
    ``image_channel_mean``: each image's own mean colour; a number: that value in every channel;
    a sequence / tensor of C values: that colour.
    """
    images = check_images(images)
    c = images.shape[1]
    if isinstance(fill, str):
        if fill == "channel_mean":
            return images.mean(dim=(0, 2, 3), keepdim=True)
        if fill == "image_channel_mean":
            return images.mean(dim=(2, 3), keepdim=True)
        raise UserError(f"fill {fill!r} is not one of {FILLS}, a number or a colour of {c} values")
    colour = torch.as_tensor(fill, dtype=images.dtype, device=images.device)
    if colour.ndim == 0:
        return colour.expand(1, c, 1, 1)
    if colour.ndim == 4 and colour.shape[1:] == (c, 1, 1) and colour.shape[0] in (1, len(images)):
        return colour
    if colour.numel() != c:
        raise UserError(f"fill colour has {colour.numel()} values; the images have {c} channels")
    return colour.reshape(1, c, 1, 1)


def removed_count(fraction: float, n_pixels: int) -> int:
    """How many of ``n_pixels`` a ``fraction`` in [0, 1] removes: ``floor(fraction * n_pixels)``."""
    fraction = float(fraction)
    if not 0.0 <= fraction <= 1.0:
        raise UserError(f"fraction must be in [0, 1] (0.3 = 30% of the pixels), got {fraction!r}")
    return min(n_pixels, int(math.floor(fraction * n_pixels + 1e-9)))


def tie_permutation(n_pixels: int, seed: int, index: int, device: torch.device | str = "cpu") -> Tensor:
    """(n_pixels,) long: the random pixel order that breaks ties in image ``index`` under ``seed``."""
    g = torch.Generator().manual_seed((int(seed) * 1_000_003 + int(index)) % (2**63 - 1))
    return torch.randperm(n_pixels, generator=g).to(device)


def removal_ranks(maps: Tensor, descending: bool = True, *, seed: int = 0, first_index: int = 0) -> Tensor:
    """(N, H*W) long: each pixel's position in the removal order of its map (0 = removed first);
    ties broken by :func:`tie_permutation` of (``seed``, ``first_index + row``)."""
    flat = maps.flatten(1)
    n, hw = flat.shape
    perm = torch.stack([tie_permutation(hw, seed, first_index + i, flat.device) for i in range(n)]) if n else \
        torch.empty(0, hw, dtype=torch.long, device=flat.device)
    order = perm.gather(1, torch.argsort(flat.gather(1, perm), dim=1, descending=descending, stable=True))
    positions = torch.arange(hw, device=flat.device).expand_as(order)
    return torch.empty_like(order).scatter_(1, order, positions)


def replace_pixels(images: Tensor, ranks: Tensor, counts: Tensor, colour: Tensor) -> Tensor:
    """``images`` (B, C, H, W) with the pixels ranked below ``counts`` (B,) replaced by ``colour``
    ((1 or B), C, 1, 1); ``ranks`` (B, H*W) from :func:`removal_ranks`."""
    b, _, h, w = images.shape
    removed = (ranks < counts.view(b, 1)).view(b, 1, h, w)
    return torch.where(removed, colour.to(images.dtype), images)


def remove_top(images: Tensor, maps: Tensor, fraction: float, fill: Fill = "channel_mean", *,
               absolute: bool = False, seed: int = 0, batch_size: int = 256) -> Tensor:
    """ROAR's removal: ``images`` with the ``fraction`` most relevant pixels of each map replaced
    by the fill colour (see :func:`fill_colour`; ``channel_mean`` is computed over ``images``).
    ``absolute`` ranks pixels by |map|; ties are broken at random from ``seed`` (see
    :func:`removal_ranks`). Works in chunks of ``batch_size`` images."""
    images = check_images(images)
    maps = check_maps(maps, images).to(images.device)
    colour = fill_colour(images, fill)
    count = removed_count(fraction, images.shape[-2] * images.shape[-1])
    out = torch.empty_like(images)
    for part in chunks(len(images), batch_size):
        m = maps[part].abs() if absolute else maps[part]
        counts = torch.full((part.stop - part.start,), count, device=images.device)
        rows = colour if colour.shape[0] == 1 else colour[part]
        ranks = removal_ranks(m, descending=True, seed=seed, first_index=part.start)
        out[part] = replace_pixels(images[part], ranks, counts, rows)
    return out


__all__ = ["FILLS", "fill_colour", "remove_top", "removal_ranks", "removed_count", "replace_pixels",
           "tie_permutation"]
