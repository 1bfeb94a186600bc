"""Network dissection (Bau et al. 2017, as in the semantic-cxr code) of any layer of any model.

Definition (the same in :mod:`attriflow.dissection.reference`, the test oracle):

- ``a_k``: unit k's activation maps (h, w) over the N probe images (the layer's output channel k);
- threshold ``T_k``: the ``quantile`` of all N*h*w values of ``a_k``, nearest rank from above
  (numpy's ``method="higher"``: the value at ascending index ``ceil(q (n - 1))``), so ``T_k`` is
  one of the activations and no interpolation rounding enters;
- unit mask ``M_k``: the map upsampled bilinearly (``align_corners=False``) to the concept-mask
  size, ``> T_k``;
- ``IoU_k,c = sum_n |M_k ∩ L_c| / sum_n |M_k ∪ L_c|`` over the whole probe set (0 when the union
  is empty); unit k is labelled with its best concept when that IoU exceeds ``iou_threshold``.

Cost: one forward pass up to the layer (the rest of the model is skipped), activations and masks
spilled to an anonymous temporary file and read back twice: once for the exact thresholds
(running top-m per unit, m = n - ceil(q (n - 1)) values), once for the IoU: only the (image,
unit) maps whose maximum exceeds the unit's threshold can give a non-empty mask (bilinear values
are convex combinations), so only those are upsampled, as two small matrix products in float64,
and their (few) pixels above the threshold look up the concepts under them. Memory: one batch plus the
top-m values per unit, units x ((1 - q) N h w + 1) floats (at q = 0.995 and 7x7 maps, 1 KB per
1,000 probe images and unit: 1 MB for DenseNet121's 1,024 units), however large the probe set;
disk: the activations (4 bytes per unit and position) and the masks (1 bit per pixel).
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from attriflow.dissection.concepts import concept_masks
from attriflow.dissection.probe import concept_names_of, probe_batches
from attriflow.dissection.upsample import Upsampler
from attriflow.errors import UserError

MAX_ELEMENTS = 1 << 23  # upsampled values per step of the IoU pass (64 MB of float64)


@dataclass
class Dissection:
    """Everything a dissection measured: IoU of every (unit, concept), thresholds and pixel counts."""

    layer: str
    concepts: list[str]
    iou: Tensor          # float64 (U, K)
    thresholds: Tensor   # float32 (U,)
    intersection: Tensor  # float64 (U, K) pixels
    unit_pixels: Tensor   # float64 (U,) pixels of M_k
    concept_pixels: Tensor  # float64 (K,) pixels of L_c
    n_images: int
    map_size: tuple[int, int]
    mask_size: tuple[int, int]
    settings: dict = field(default_factory=dict)

    def labels(self, iou_threshold: float = 0.04) -> pd.DataFrame:
        """One row per unit: unit, concept (best above ``iou_threshold``, else None), iou (best), threshold."""
        return label_units(self.iou, self.thresholds, self.concepts, iou_threshold)

    def iou_table(self) -> pd.DataFrame:
        """The full (unit, concept) IoU matrix, long format."""
        u, k = self.iou.shape
        return pd.DataFrame({"unit": np.repeat(np.arange(u), k), "concept": np.tile(self.concepts, u),
                             "iou": self.iou.numpy().ravel()})


def label_units(iou: Tensor, thresholds: Tensor, concepts: Sequence[str], iou_threshold: float) -> pd.DataFrame:
    """Label each unit with its best concept (first on ties) when its IoU exceeds ``iou_threshold``."""
    best_iou, best = iou.max(dim=1) if iou.shape[1] else (torch.zeros(len(iou), dtype=iou.dtype), torch.zeros(len(iou), dtype=torch.long))
    names = [concepts[int(b)] if float(v) > iou_threshold else None for b, v in zip(best, best_iou)]
    return pd.DataFrame({"unit": np.arange(len(iou)), "concept": names, "iou": best_iou.numpy(),
                         "threshold": thresholds.double().numpy()})


def dissect(model: nn.Module, layer: str, data: Any, concepts: Sequence[str] | None = None, quantile: float = 0.995,
            iou_threshold: float = 0.04, batch_size: int = 64, mask_size: int | tuple[int, int] | None = None,
            progress: bool = True) -> pd.DataFrame:
    """Label every unit of ``layer`` (dotted module path) with the concept its top activations cover.

    ``data``: the probe set, batches of (images, concept masks or boxes) in any form
    :func:`~attriflow.dissection.probe.probe_batches` accepts; ``concepts`` names the K concept
    planes (default: the dataset's ``mask_names``). ``mask_size``: the scoring resolution (default:
    the masks' own, or the images' for boxes). Returns one row per unit: unit, concept (or None),
    iou, threshold. :func:`dissect_layer` returns the full measurements.
    """
    result = dissect_layer(model, layer, data, concepts, quantile=quantile, batch_size=batch_size,
                           mask_size=mask_size, progress=progress)
    return result.labels(iou_threshold)


class _Stop(Exception):
    """Raised by the hook once the layer has run: the rest of the forward pass is not needed."""


class _Spill:
    """Batches of arrays written to an anonymous temporary file and read back in order."""

    def __init__(self):
        self.file = tempfile.TemporaryFile()
        self.items: list[list[tuple[str, tuple, int]]] = []

    def write(self, *arrays: np.ndarray) -> None:
        entry = []
        for a in arrays:
            a = np.ascontiguousarray(a)
            self.file.write(memoryview(a).cast("B"))
            entry.append((a.dtype.str, a.shape, a.nbytes))
        self.items.append(entry)

    def read(self):
        self.file.seek(0)
        for entry in self.items:
            yield [np.fromfile(self.file, dtype=np.dtype(dt), count=int(np.prod(shape))).reshape(shape)
                   for dt, shape, _ in entry]

    def close(self) -> None:
        self.file.close()


def _size2(size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    s = (size, size) if isinstance(size, int) else tuple(size)
    if len(s) != 2 or any(isinstance(v, bool) or int(v) != v or v < 1 for v in s):
        raise UserError(f"mask_size must be a positive int or (height, width), got {size!r}")
    return int(s[0]), int(s[1])


def check_settings(quantile: float, batch_size: int) -> None:
    if not (isinstance(quantile, (int, float)) and 0.0 <= quantile <= 1.0) or isinstance(quantile, bool):
        raise UserError(f"quantile must be a number in [0, 1] (0.995: the top 0.5%), got {quantile!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise UserError(f"batch_size must be a whole number >= 1, got {batch_size!r}")


def higher_rank(n: int, quantile: float) -> int:
    """Ascending index of the ``quantile`` among n values, nearest rank from above (numpy's 'higher')."""
    return min(n - 1, int(math.ceil(quantile * (n - 1))))


class LayerOutput:
    """Context manager: hook ``layer`` of ``model``; ``run(x)`` returns its output and stops the forward there."""

    def __init__(self, model: nn.Module, layer: str):
        from attriflow.attribution.layers import resolve_layer

        self.model, self.layer = model, layer
        self.module = resolve_layer(model, layer)
        self.output: Tensor | None = None

    def __enter__(self) -> "LayerOutput":
        def hook(module, inputs, output):
            self.output = output
            raise _Stop

        self.handle = self.module.register_forward_hook(hook)
        return self

    def __exit__(self, *exc) -> None:
        self.handle.remove()

    @torch.no_grad()
    def run(self, x: Tensor) -> Tensor:
        self.output = None
        try:
            self.model(x)
        except _Stop:
            pass
        out = self.output
        if not isinstance(out, Tensor) or out.ndim != 4:
            shape = None if not isinstance(out, Tensor) else tuple(out.shape)
            raise UserError(f"layer {self.layer!r} must output (N, units, h, w) maps to dissect; got {shape}")
        return out


def dissect_layer(model: nn.Module, layer: str, data: Any, concepts: Sequence[str] | None = None, *,
                  quantile: float = 0.995, batch_size: int = 64, mask_size: int | tuple[int, int] | None = None,
                  progress: bool = True) -> Dissection:
    """The measurements behind :func:`dissect` (same arguments): IoU matrix, thresholds, pixel counts."""
    check_settings(quantile, batch_size)
    names = list(concepts) if concepts is not None else concept_names_of(data)
    mask_size = _size2(mask_size)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    spill = _Spill()
    n_images, n_units, map_size, k = 0, None, None, None
    try:
        # pass 1: forward to the layer; activations and concept masks to the spill file
        with LayerOutput(model, layer) as hooked:
            for images, conc in tqdm(probe_batches(data, batch_size), desc=f"dissect {layer}", unit="batch",
                                     disable=not progress, leave=False):
                acts = hooked.run(images.to(device)).float().cpu()
                mask_size = mask_size or (tuple(images.shape[-2:]) if conc.ndim != 4 or conc.dtype != torch.bool
                                          else tuple(conc.shape[-2:]))
                masks = concept_masks(conc, tuple(images.shape[-2:]), mask_size)
                if n_units is None:
                    n_units, map_size, k = acts.shape[1], tuple(acts.shape[-2:]), masks.shape[1]
                elif (acts.shape[1], tuple(acts.shape[-2:]), masks.shape[1]) != (n_units, map_size, k):
                    raise UserError("probe batches differ in shape: every image must give the same layer size and concepts")
                spill.write(acts.numpy(), np.packbits(masks.numpy(), axis=-1))
                n_images += len(images)
        if n_images == 0:
            raise UserError("the probe set is empty: nothing to dissect")
        if names is None:
            names = [f"concept_{i}" for i in range(k)]
        if len(names) != k:
            raise UserError(f"{len(names)} concept names given for {k} concept planes: {names}")
        # pass 2: exact thresholds, streaming over the spilled activations
        n = n_images * map_size[0] * map_size[1]
        rank = higher_rank(n, quantile)
        m = n - rank  # the top m values hold ascending index `rank`
        top = torch.empty(n_units, 0)
        for acts, _ in spill.read():
            vals = torch.from_numpy(acts).transpose(0, 1).reshape(n_units, -1)
            top = torch.cat([top, vals], dim=1)
            if top.shape[1] > m:
                top = top.topk(m, dim=1, sorted=False).values
        thresholds = top.min(dim=1).values  # the m-th largest = ascending index n - m
        # pass 3: IoU. Bilinear values are convex combinations of the map's values, so a unit whose
        # map stays <= T_k on an image has an empty mask there: only (image, unit) pairs whose maximum
        # exceeds the threshold are upsampled (in float64: rounding does not move values across T_k)
        up = Upsampler(map_size, mask_size, dtype=torch.float64, device=device)
        t_dev = thresholds.to(device)
        inter = torch.zeros(n_units, k, dtype=torch.float64, device=device)
        unit_px = torch.zeros(n_units, dtype=torch.float64, device=device)
        concept_px = torch.zeros(k, dtype=torch.float64, device=device)
        step = max(1, MAX_ELEMENTS // (mask_size[0] * mask_size[1]))
        popcount = torch.tensor([bin(i).count("1") for i in range(256)], dtype=torch.float64, device=device)
        for acts, packed in spill.read():
            a = torch.from_numpy(acts).to(device)
            bits = torch.from_numpy(packed).to(device)  # (B, K, H, ceil(W / 8)) uint8, masks packed along W
            concept_px += popcount[bits.long()].sum(dim=(0, 2, 3))
            b_idx, u_idx = (a.amax(dim=(2, 3)) > t_dev).nonzero(as_tuple=True)
            for p0 in range(0, len(b_idx), step):
                b, u = b_idx[p0:p0 + step], u_idx[p0:p0 + step]
                mk = up(a[b, u].double()) > t_dev[u, None, None].double()  # (P, H, W) unit masks
                pair, y, x = mk.nonzero(as_tuple=True)  # their pixels (few: the top quantile)
                owner = u[pair]
                unit_px += torch.bincount(owner, minlength=n_units).double()
                under = (bits[b[pair], :, y, x >> 3] >> (7 - (x & 7))[:, None]) & 1  # (pixels, K): concepts there
                inter.index_add_(0, owner, under.double())
        inter, unit_px, concept_px = inter.cpu(), unit_px.cpu(), concept_px.cpu()
    finally:
        spill.close()
    union = unit_px[:, None] + concept_px[None, :] - inter
    iou = torch.where(union > 0, inter / union.clamp(min=1), torch.zeros_like(inter))
    return Dissection(layer=layer, concepts=list(names), iou=iou, thresholds=thresholds, intersection=inter,
                      unit_pixels=unit_px, concept_pixels=concept_px, n_images=n_images, map_size=map_size,
                      mask_size=tuple(mask_size), settings={"quantile": quantile, "batch_size": batch_size})
