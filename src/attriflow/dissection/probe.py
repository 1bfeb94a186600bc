"""The probe set of a dissection, as batches of (images, concepts), whatever form it comes in.

Accepted: an :class:`~attriflow.data.imageset.ImageSet` (its ``masks``, or ``boxes`` when it has
that attribute), a pair of tensors ``(images, concepts)``, a map-style dataset of
``(image, concepts)`` items (batched with a DataLoader), or any iterable of ``(images, concepts)``
batches, e.g. a DataLoader. Concepts are masks or boxes (see :mod:`attriflow.dissection.concepts`).
"""

from __future__ import annotations

from typing import Any, Iterator

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from attriflow.errors import UserError


def probe_batches(data: Any, batch_size: int = 64) -> Iterator[tuple[Tensor, Tensor]]:
    """Yield ``(images (B, C, H, W) float, concepts)`` batches of ``data`` (module docstring)."""
    from attriflow.data.imageset import ImageSet

    if isinstance(data, ImageSet):
        concepts = getattr(data, "boxes", None)
        concepts = data.masks if concepts is None else concepts
        if concepts is None:
            raise UserError(f"dataset {data.name!r} has no concept masks or boxes to dissect with")
        data = (data.images, concepts)
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, Tensor) for t in data):
        images, concepts = data
        if len(images) != len(concepts):
            raise UserError(f"probe set: {len(images)} images but {len(concepts)} concept annotations")
        for start in range(0, len(images), batch_size):
            yield images[start:start + batch_size], concepts[start:start + batch_size]
        return
    if isinstance(data, Dataset) and not isinstance(data, torch.utils.data.IterableDataset):
        data = DataLoader(data, batch_size=batch_size, shuffle=False)
    for batch in data:
        if isinstance(batch, dict):
            batch = (batch["images"], batch.get("masks", batch.get("boxes")))
        if not (isinstance(batch, (tuple, list)) and len(batch) >= 2):
            raise UserError("a probe batch must be (images, masks or boxes); got " + type(batch).__name__)
        yield torch.as_tensor(batch[0]), torch.as_tensor(batch[1])


def concept_names_of(data: Any) -> list[str] | None:
    """The concept names a dataset carries (``mask_names`` of an ImageSet), else None."""
    names = getattr(data, "concept_names", None) or getattr(data, "mask_names", None)
    return list(names) if names else None
