"""The registered attribution methods of the pathways and prunegrad papers.

``pathway_gradient`` and ``prune_grad`` are one function: score every neuron (ReLU output
element) by its contribution to the target, keep each input's top (100 - sparsity)% over all
layers, and return d target / d x of the network with the other neurons set to 0. They differ
only in the contribution score: NeuronIntGrad (the authors' PruneInt; ``steps`` scaled inputs)
or NeuronMCT (PruneGrad). The papers reduce channels by the signed value of largest magnitude:
ask for it with ``reduce="max_abs"`` (the workflow's config does).

Cost per chunk of images: prune_grad two forward-backward passes (contributions, masked
gradient) plus the selection; pathway_gradient ``steps`` + 1. Memory: the activations, scores and
masks of one chunk (``batch_size`` images) over all layers.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from attriflow.attribution.expansion import check_steps
from attriflow.attribution.registry import register_method
from attriflow.errors import UserError
from attriflow.pathways.neurons import activations, masked_gradient, neuron_contributions
from attriflow.pathways.selection import check_sparsity, random_pathway, select_pathway

SELECTIONS = ("contribution", "random")

_DOCS = {
    "steps": "scaled inputs k/steps * x (k = 1..steps) whose neuron gradients are averaged (NeuronIntGrad)",
    "selection": "'contribution' keeps the highest-scoring neurons; 'random' keeps as many at random (the papers' "
    "random-pruning baseline)",
}


def pathway(model: nn.Module, x: Tensor, target: Tensor, *, contributions: str, sparsity: float, steps: int = 10,
            batch_size: int | None = None, selection: str = "contribution", seed: int | None = None) -> list[Tensor]:
    """The masks of each input's pathway at ``sparsity`` (see :mod:`attriflow.pathways.selection`)."""
    sparsity = check_sparsity(sparsity)
    if selection not in SELECTIONS:
        raise UserError(f"selection={selection!r} is not valid; valid: {', '.join(SELECTIONS)}")
    if selection == "random":
        return random_pathway(activations(model, x), sparsity, seed=0 if seed is None else seed)
    scores = neuron_contributions(model, x, target, contributions, steps=steps, batch_size=batch_size)
    return select_pathway(scores, sparsity)


@register_method(
    "pathway_gradient",
    description="pathway gradient (Khakzar et al. 2021): input gradient of the network pruned to each input's "
    "critical pathway, neurons selected by NeuronIntGrad (the authors' PruneInt); use reduce='max_abs' as the paper",
    fixed={"contributions": "intgrad"}, docs=_DOCS, choices={"selection": SELECTIONS},
    params=("sparsity", "steps", "batch_size", "selection", "seed"),
)
@register_method(
    "prune_grad",
    description="PruneGrad (Khakzar et al. 2019): input gradient of the network pruned to each input's top neurons "
    "by NeuronMCT |a * dy/da|; use reduce='max_abs' as the paper",
    fixed={"contributions": "mct"}, docs=_DOCS, choices={"selection": SELECTIONS},
    params=("sparsity", "batch_size", "selection", "seed"),
)
def pathway_gradient(model: nn.Module, x: Tensor, target: Tensor, *, contributions: str, sparsity: float = 90.0,
                     steps: int = 10, batch_size: int | None = 32, selection: str = "contribution",
                     seed: int | None = None) -> Tensor:
    """(N, C, H, W) input gradient of each input's pathway network, ``batch_size`` images at a time
    (every forward pass, including NeuronIntGrad's scaled inputs, has at most ``batch_size`` rows).
    Random selection seeds the chunk starting at image i with ``seed + i``, so no two chunks share draws."""
    check_steps(steps)
    per = batch_size or len(x)
    out = []
    for i in range(0, len(x), per):
        xi, ti = x[i:i + per], target[i:i + per]
        masks = pathway(model, xi, ti, contributions=contributions, sparsity=sparsity, steps=steps,
                        batch_size=batch_size, selection=selection, seed=(seed or 0) + i)
        out.append(masked_gradient(model, xi, ti, masks))
    return torch.cat(out)


__all__ = ["SELECTIONS", "pathway", "pathway_gradient"]
