"""Methods that expand each image into K rows (IG steps, SmoothGrad samples), evaluated in chunks.

Rows are ordered image-major (image i's K rows are consecutive, as in Captum's NoiseTunnel), built
chunk by chunk from index tensors and summed into one accumulator per image, so peak memory is
bounded by ``batch_size`` rows, not by K.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from attriflow.errors import UserError


def sum_over_rows(
    n: int,
    k: int,
    batch_size: int | None,
    make_rows: Callable[[Tensor, Tensor], Tensor],
    evaluate: Callable[[Tensor, Tensor], Tensor],
    weights: Tensor | None = None,
    device: torch.device | None = None,
) -> Tensor:
    """sum_j weights[j] * evaluate(make_rows(i, j)) for every image i, j < k, in chunks of ``batch_size`` rows.

    ``make_rows(image_index, sub_index)`` builds the rows of one chunk; ``evaluate(rows, image_index)``
    returns one map per row.
    """
    total_rows = n * k
    step = check_batch_size(batch_size) or total_rows
    total = None
    for start in range(0, total_rows, step):
        r = torch.arange(start, min(start + step, total_rows), device=device)
        image, sub = r // k, r % k
        maps = evaluate(make_rows(image, sub), image)
        if weights is not None:
            maps = maps * weights[sub].view(-1, *([1] * (maps.ndim - 1))).to(maps.dtype)
        if total is None:
            total = maps.new_zeros((n, *maps.shape[1:]))
        total.index_add_(0, image, maps)
    assert total is not None
    return total


def check_steps(steps: int) -> int:
    """``steps`` (scaled inputs, samples) if it is a positive int; a UserError otherwise."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise UserError(f"steps must be a positive integer, got {steps!r}")
    return steps


def check_batch_size(batch_size: int | None) -> int | None:
    """``batch_size`` if it is None or a positive int; a UserError otherwise."""
    if batch_size is None:
        return None
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise UserError(f"batch_size must be a positive integer or None, got {batch_size!r}")
    return batch_size
