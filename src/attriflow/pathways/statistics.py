"""Pathway statistics (Khakzar et al. 2021, section 4): what a pathway is and how much of the network it needs.

- :func:`dead_fraction`: share of neurons that are 0 for an input (inactive ReLUs) before any pruning.
- :func:`jaccard_matrix`: Jaccard overlap |A and B| / |A or B| of the pathways of every pair of inputs.
- :func:`overlap_table`: those pairs with whether the two inputs share a class.
- :func:`response_table`: the masked network's target probability and logit against the original's.
- :func:`find_pathways`: every selection the papers compare (NeuronMCT, NeuronIntGrad, random, greedy,
  learned gates DGR / CDRP) at one sparsity, by one switch.
- :func:`decode_pathway`: pathway decoding, an input optimised from noise to excite only the kept
  neurons of the last layers (what the pathway encodes, as an image).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attriflow.errors import UserError
from attriflow.pathways.baselines import gate_pathway, greedy_pathway
from attriflow.pathways.methods import pathway
from attriflow.pathways.neurons import activations, masked_logits, neurons
from attriflow.pathways.selection import flatten_layers, kept_fraction

SELECTORS = ("mct", "intgrad", "random", "greedy", "dgr", "cdrp")


def dead_fraction(model: nn.Module, x: Tensor) -> Tensor:
    """(N,) share of each input's neurons (ReLU output elements) that are exactly 0."""
    return (flatten_layers(activations(model, x)) == 0).float().mean(dim=1)


def find_pathways(model: nn.Module, x: Tensor, target: Tensor, selector: str, sparsity: float, *, steps: int = 10,
                  batch_size: int | None = 64, seed: int = 0, gate_iterations: int = 1000, gate_lr: float = 0.01,
                  gate_l1: float = 0.01, greedy_step: float = 10.0) -> list[Tensor]:
    """Pathway masks of ``x`` at ``sparsity`` by one of SELECTORS."""
    if selector in ("mct", "intgrad"):
        return pathway(model, x, target, contributions=selector, sparsity=sparsity, steps=steps, batch_size=batch_size)
    if selector == "random":
        return pathway(model, x, target, contributions="mct", sparsity=sparsity, selection="random", seed=seed)
    if selector == "greedy":
        return greedy_pathway(model, x, target, sparsity, step=greedy_step)
    if selector in ("dgr", "cdrp"):
        return gate_pathway(model, x, target, sparsity, granularity="channel" if selector == "dgr" else "neuron",
                            iterations=gate_iterations, lr=gate_lr, l1=gate_l1)
    raise UserError(f"pathway selector {selector!r} is not valid; valid: {', '.join(SELECTORS)}")


def jaccard_matrix(masks: Sequence[Tensor]) -> Tensor:
    """(N, N) Jaccard overlap of the inputs' pathways (1 on the diagonal)."""
    flat = flatten_layers(masks).double()
    inter = flat @ flat.T
    sizes = flat.sum(1)
    union = sizes[:, None] + sizes[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(inter))


def overlap_table(masks: Sequence[Tensor], labels: Tensor) -> pd.DataFrame:
    """One row per unordered pair of inputs: image_a, image_b, same_class, jaccard."""
    j = jaccard_matrix(masks).cpu().numpy()
    a, b = np.triu_indices(len(j), k=1)
    lab = labels.cpu().numpy()
    return pd.DataFrame({"image_a": a, "image_b": b, "same_class": lab[a] == lab[b], "jaccard": j[a, b]})


@torch.no_grad()
def response_table(model: nn.Module, x: Tensor, target: Tensor, masks: Sequence[Tensor]) -> pd.DataFrame:
    """One row per input: kept_fraction, the original and the masked network's target logit and
    softmax probability, rel_change = |p - p0| / p0 and whether the predicted class is the same."""
    logits0 = model(x).float()
    logits = masked_logits(model, x, masks).float()
    p0 = F.softmax(logits0, 1).gather(1, target[:, None])[:, 0]
    p = F.softmax(logits, 1).gather(1, target[:, None])[:, 0]
    return pd.DataFrame({
        "image": np.arange(len(x)),
        "kept_fraction": kept_fraction(masks).cpu().numpy(),
        "logit_original": logits0.gather(1, target[:, None])[:, 0].cpu().numpy(),
        "logit_masked": logits.gather(1, target[:, None])[:, 0].cpu().numpy(),
        "p_original": p0.cpu().numpy(),
        "p_masked": p.cpu().numpy(),
        "rel_change": ((p - p0).abs() / p0).cpu().numpy(),
        "same_prediction": (logits.argmax(1) == logits0.argmax(1)).cpu().numpy(),
    })


def decode_pathway(model: nn.Module, masks: Sequence[Tensor], shape: Sequence[int], *, layers: int = 3,
                   iterations: int = 200, lr: float = 0.05, seed: int = 0, downsample: int = 4) -> Tensor:
    """(N, C, H, W) inputs in [0, 1], one per pathway, optimised (Adam) to raise the activations of the kept
    neurons of the last ``layers`` ReLU layers over the removed ones (mean over kept minus mean over removed,
    per layer, relative to the layer's mean activation). The image is parametrised at 1/``downsample`` of
    the resolution (bilinear upsampling, a sigmoid to [0, 1]) and starts from seeded low-amplitude noise
    around grey, so the result is smooth enough to read (feature-visualisation practice)."""
    n, c, h, w = len(masks[0]), *shape[1:]
    gen = torch.Generator().manual_seed(int(seed))
    small = (max(1, h // downsample), max(1, w // downsample))
    z = (0.1 * torch.randn(n, c, *small, generator=gen)).to(masks[0].device).requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    last = list(range(len(masks)))[-layers:]
    img = torch.sigmoid(F.interpolate(z, size=(h, w), mode="bilinear", align_corners=False))
    for _ in range(iterations):
        img = torch.sigmoid(F.interpolate(z, size=(h, w), mode="bilinear", align_corners=False))
        with torch.enable_grad(), neurons(record=True) as relu:
            model(img)
        objective = 0.0
        for k in last:
            a, m = relu.outputs[k].flatten(1), masks[k].flatten(1)
            kept = (a * m).sum(1) / m.sum(1).clamp(min=1)
            rest = (a * (1 - m)).sum(1) / (1 - m).sum(1).clamp(min=1)
            objective = objective + (kept - rest) / (a.mean(1) + 1e-6)
        (grad,) = torch.autograd.grad(-objective.sum(), z)
        z.grad = grad
        opt.step()
    return torch.sigmoid(F.interpolate(z, size=(h, w), mode="bilinear", align_corners=False)).detach()


__all__ = ["SELECTORS", "dead_fraction", "decode_pathway", "find_pathways", "jaccard_matrix", "overlap_table",
           "response_table"]
