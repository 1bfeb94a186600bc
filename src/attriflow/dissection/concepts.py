"""Concept annotations of a probe batch as bool masks at the scoring resolution.

A concept set comes as pixel masks or as boxes, per image and concept:

- masks: bool (N, K, h, w), True where concept k is present;
- boxes: integer (N, K, 4) or (N, K, J, 4), rows ``y0, x0, y1, x1`` in image pixels, inclusive
  (the embedded phantoms' and NIH ChestX-ray8's convention), ``-1`` (any negative) where absent;
  J boxes per concept and image.

The dtype tells them apart (bool: masks, integer: boxes). Both become bool (N, K, H, W) at the
scoring size: a mask or box keeps every scoring pixel it touches (never an empty mask), so a box
and the mask of the same rectangle give the same pixels at any size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from attriflow.errors import UserError


def is_boxes(concepts: Tensor) -> bool:
    return not concepts.dtype.is_floating_point and concepts.dtype != torch.bool


def concept_masks(concepts: Tensor, image_size: tuple[int, int], mask_size: tuple[int, int]) -> Tensor:
    """bool (N, K, H, W) at ``mask_size`` from masks or boxes (module docstring) of images of ``image_size``."""
    if not isinstance(concepts, Tensor):
        concepts = torch.as_tensor(concepts)
    if is_boxes(concepts):
        return boxes_to_masks(concepts, image_size, mask_size)
    if concepts.dtype != torch.bool:
        raise UserError(f"concept masks must be bool (N, K, h, w) (or integer boxes (N, K, 4)), got dtype {concepts.dtype}")
    if concepts.ndim != 4:
        raise UserError(f"concept masks must be (N, K, h, w), got shape {tuple(concepts.shape)}")
    if tuple(concepts.shape[-2:]) == tuple(mask_size):
        return concepts
    return resize_any(concepts, mask_size)


def resize_any(masks: Tensor, size: tuple[int, int]) -> Tensor:
    """bool masks resized so a pixel is set when any source pixel it covers is set (max pooling;
    nearest neighbour when enlarging)."""
    n, k, h, w = masks.shape
    H, W = size
    flat = masks.reshape(n * k, 1, h, w).float()
    if H <= h and W <= w:
        out = F.adaptive_max_pool2d(flat, (H, W)) > 0
    elif H >= h and W >= w:
        out = F.interpolate(flat, size=(H, W), mode="nearest") > 0
    else:
        raise UserError(f"cannot resize concept masks from {(h, w)} to {(H, W)}: shrink or enlarge both sides")
    return out.reshape(n, k, H, W)


def boxes_to_masks(boxes: Tensor, image_size: tuple[int, int], mask_size: tuple[int, int]) -> Tensor:
    """Rasterise boxes (see the module docstring) to bool (N, K, H, W): scoring pixel (i, j) covers
    image rows [i h/H, (i+1) h/H) and columns [j w/W, (j+1) w/W) and is set when a box touches it."""
    if boxes.ndim == 3:
        boxes = boxes[:, :, None]
    if boxes.ndim != 4 or boxes.shape[-1] != 4:
        raise UserError(f"concept boxes must be (N, K, 4) or (N, K, J, 4) y0, x0, y1, x1; got shape {tuple(boxes.shape)}")
    (h, w), (H, W) = image_size, mask_size
    b = boxes.long()
    present = (b >= 0).all(dim=-1)  # (N, K, J)
    if ((b[..., 2] < b[..., 0]) | (b[..., 3] < b[..., 1]))[present].any():
        raise UserError("concept boxes must have y1 >= y0 and x1 >= x0 (inclusive corners)")
    # integer arithmetic: row i starts at i*h/H; a box [y0, y1] touches row i iff i*h < (y1+1)*H and (i+1)*h > y0*H
    i = torch.arange(H)[None, None, None, :]
    j = torch.arange(W)[None, None, None, :]
    rows = (i * h < (b[..., 2:3] + 1) * H) & ((i + 1) * h > b[..., 0:1] * H)  # (N, K, J, H)
    cols = (j * w < (b[..., 3:4] + 1) * W) & ((j + 1) * w > b[..., 1:2] * W)  # (N, K, J, W)
    rows &= present[..., None]
    return (rows[..., :, None] & cols[..., None, :]).any(dim=2)
