"""The papers' other ways to find a pathway: greedy pruning and learned gates (DGR, CDRP).

- :func:`greedy_pathway`: remove neurons in steps, re-scoring the remaining ones by NeuronMCT on the
  already pruned network after every step (the authors' ``prune_greedy``), until the sparsity is reached.
- :func:`learned_gates`: a gate g >= 0 multiplies every ReLU output, initialised to 1 and trained by SGD
  (momentum 0.9) on the cross-entropy between the gated network's softmax and the original one's
  (distillation) plus ``l1`` * sum |g| (Wang et al. 2018; the authors' ``cdrp`` code), keeping the
  gates of the lowest loss that still predicts the original class. ``granularity='channel'``: one gate
  per channel of each layer (DGR, Wang et al.'s control gates); ``'neuron'``: one per neuron (CDRP as
  the authors' code runs it). The pathway keeps the neurons with the highest gates at the sparsity.

Both leave the model as it was: gates and masks live only in the ReLU replacement, the model's
parameters are never touched (its ``requires_grad`` flags are not changed either).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from attriflow.errors import UserError
from attriflow.attribution.relu_override import override_relus
from attriflow.pathways.neurons import activations, neuron_contributions
from attriflow.pathways.selection import (
    check_sparsity, flatten_layers, kept_count, select_pathway, split_layers, top_mask,
)

GRANULARITIES = ("channel", "neuron")


def greedy_pathway(model: nn.Module, x: Tensor, target: Tensor, sparsity: float, *, step: float = 10.0) -> list[Tensor]:
    """Masks at ``sparsity`` reached in steps of ``step`` percent, re-scoring by NeuronMCT after each step."""
    sparsity = check_sparsity(sparsity)
    if not 0 < step <= 100:
        raise UserError(f"greedy step must be a percentage in (0, 100], got {step!r}")
    masks = [torch.ones_like(a) for a in activations(model, x)]
    levels = [min(sparsity, step * k) for k in range(1, int(-(-sparsity // step)) + 1)] or [0.0]
    for level in levels:
        scores = neuron_contributions(model, x, target, "mct", masks=masks)
        flat_scores = flatten_layers(scores)
        flat_masks = flatten_layers(masks)
        flat_scores = torch.where(flat_masks > 0, flat_scores, torch.full_like(flat_scores, -1.0))  # removed stay out
        masks = split_layers(top_mask(flat_scores, kept_count(flat_scores.shape[1], level)), masks)
    return masks


class _Gates:
    """ReLU replacement that multiplies each layer's output by its gates (created on the first call)."""

    def __init__(self, granularity: str):
        self.granularity = granularity
        self.gates: list[Tensor] = []
        self.calls = 0

    def __call__(self, x: Tensor, inplace: bool) -> Tensor:
        y = torch.relu(x)
        if self.calls >= len(self.gates):
            shape = y.shape if self.granularity == "neuron" or y.ndim < 3 else (*y.shape[:2], *([1] * (y.ndim - 2)))
            self.gates.append(torch.ones(shape, dtype=y.dtype, device=y.device, requires_grad=True))
        g = self.gates[self.calls]
        self.calls += 1
        return y * g


def learned_gates(model: nn.Module, x: Tensor, target: Tensor | None = None, *, granularity: str = "channel",
                  iterations: int = 1000, lr: float = 0.01, l1: float = 0.01, progress: bool = False) -> list[Tensor]:
    """Gate values per neuron (broadcast to each ReLU output's shape), one (N, ...) tensor per layer.

    Each input is optimised independently (the loss is a sum over inputs; gates are per input).
    ``target`` is unused by the loss (it distils the original prediction) but kept for one signature.
    """
    if granularity not in GRANULARITIES:
        raise UserError(f"granularity={granularity!r} is not valid; valid: {', '.join(GRANULARITIES)}")
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise UserError(f"iterations must be a positive integer, got {iterations!r}")
    x = x.detach()
    with torch.no_grad():
        logits0 = model(x)
        p0 = F.softmax(logits0.float(), dim=1)
        pred0 = logits0.argmax(1)
    gates = _Gates(granularity)
    with torch.enable_grad():
        with override_relus(gates):
            model(x)  # creates the gates
        opt = torch.optim.SGD(gates.gates, lr=lr, momentum=0.9)
        best_loss = torch.full((len(x),), float("inf"), device=x.device)
        best = [g.detach().clone() for g in gates.gates]
        for _ in tqdm(range(iterations), desc=f"gates ({granularity})", disable=not progress, leave=False):
            gates.calls = 0
            with override_relus(gates):
                logits = model(x)
            ce = -(p0 * torch.log(F.softmax(logits.float(), dim=1) + 1e-20)).sum(1)
            per_input = ce + l1 * sum(g.abs().flatten(1).sum(1) for g in gates.gates)
            with torch.no_grad():
                better = (logits.argmax(1) == pred0) & (per_input < best_loss)
                if better.any():
                    best_loss = torch.where(better, per_input, best_loss)
                    for b, g in zip(best, gates.gates):
                        b[better] = g[better]
            # gradients of the gates only: the model's parameters get no .grad
            for g, d in zip(gates.gates, torch.autograd.grad(per_input.sum(), gates.gates)):
                g.grad = d
            opt.step()
            with torch.no_grad():
                for g in gates.gates:
                    g.clamp_(0, 100)
    # inputs that never kept their prediction keep the final gates
    never = torch.isinf(best_loss)
    for b, g in zip(best, gates.gates):
        b[never] = g.detach()[never]
    acts = activations(model, x)
    return [b.expand_as(a).clone() for b, a in zip(best, acts)]


def gate_pathway(model: nn.Module, x: Tensor, target: Tensor | None, sparsity: float, **kwargs) -> list[Tensor]:
    """Masks keeping the neurons with the highest learned gates (see :func:`learned_gates`) at ``sparsity``.
    Gate ties (whole channels share one gate) are broken by the neuron's activation."""
    gates = learned_gates(model, x, target, **kwargs)
    acts = activations(model, x)
    scores = [g + 1e-6 * a / (a.amax() + 1e-12) for g, a in zip(gates, acts)]
    return select_pathway(scores, sparsity)


__all__ = ["GRANULARITIES", "gate_pathway", "greedy_pathway", "learned_gates"]
