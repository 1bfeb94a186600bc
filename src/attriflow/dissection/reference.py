"""A straightforward dissection of the same definition as :mod:`attriflow.dissection.engine`.

Every activation held in memory, ``numpy.quantile(..., method="higher")`` per unit,
``F.interpolate`` (float64, as the engine's upsampling) of every map per unit, intersection and union counted concept by concept. It is the test
oracle (the engine must give identical thresholds and IoUs) and the benchmark's naive peer; its
memory grows with the probe set.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from attriflow.dissection.concepts import concept_masks
from attriflow.dissection.engine import Dissection, LayerOutput
from attriflow.dissection.probe import concept_names_of, probe_batches


def dissect_reference(model: nn.Module, layer: str, data: Any, concepts: Sequence[str] | None = None, *,
                      quantile: float = 0.995, batch_size: int = 64,
                      mask_size: int | tuple[int, int] | None = None) -> Dissection:
    """The reference dissection (module docstring); same arguments and result as ``dissect_layer``."""
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    acts, masks = [], []
    with LayerOutput(model, layer) as hooked:
        for images, conc in probe_batches(data, batch_size):
            acts.append(hooked.run(images.to(device)).float().cpu())
            if mask_size is None:
                mask_size = tuple(conc.shape[-2:]) if conc.dtype == torch.bool else tuple(images.shape[-2:])
            size = (mask_size, mask_size) if isinstance(mask_size, int) else tuple(mask_size)
            masks.append(concept_masks(conc, tuple(images.shape[-2:]), size))
    acts, masks = torch.cat(acts), torch.cat(masks)  # (N, U, h, w), (N, K, H, W)
    n_units, k = acts.shape[1], masks.shape[1]
    names = list(concepts) if concepts is not None else (concept_names_of(data) or [f"concept_{i}" for i in range(k)])
    thresholds = torch.tensor([np.quantile(acts[:, u].numpy().ravel(), quantile, method="higher")
                               for u in range(n_units)], dtype=torch.float32)
    inter = torch.zeros(n_units, k, dtype=torch.float64)
    iou = torch.zeros(n_units, k, dtype=torch.float64)
    unit_px = torch.zeros(n_units, dtype=torch.float64)
    for u in range(n_units):
        up = F.interpolate(acts[:, u:u + 1].double(), size=size, mode="bilinear", align_corners=False)[:, 0]
        mask_u = up > float(thresholds[u])
        unit_px[u] = int(mask_u.sum())
        for c in range(k):
            i = int((mask_u & masks[:, c]).sum())
            union = int((mask_u | masks[:, c]).sum())
            inter[u, c] = i
            iou[u, c] = i / union if union else 0.0
    concept_px = masks.sum(dim=(0, 2, 3)).double()
    return Dissection(layer=layer, concepts=names, iou=iou, thresholds=thresholds, intersection=inter,
                      unit_pixels=unit_px, concept_pixels=concept_px, n_images=len(acts),
                      map_size=tuple(acts.shape[-2:]), mask_size=size,
                      settings={"quantile": quantile, "batch_size": batch_size, "implementation": "reference"})
