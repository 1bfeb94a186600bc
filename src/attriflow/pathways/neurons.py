"""Neurons of a network: every element of every ReLU output, recorded, scored and masked per call.

Every ReLU call of a forward pass (``nn.ReLU`` modules, torchvision's shared in-place ReLU,
``F.relu`` / ``torch.relu`` and their in-place forms) is routed through one replacement by
:func:`attriflow.attribution.relu_override.override_relus` (a torch function mode, nothing is
registered on the model). The k-th ReLU call of a forward is "layer" k; a layer's neurons are
the elements of that call's output. The replacement computes the ReLU out of place (the caller's
in-place request is honoured in value, not in storage), multiplies it by that layer's mask when
masks are given, and records the output when asked, so the gradients with respect to every
layer come from ONE backward pass.

Contribution scores of a neuron with activation a for the target score y (Khakzar et al. 2021):

- ``mct``: NeuronMCT |a * dy/da| (first-order Taylor, one forward and one backward);
- ``intgrad``: NeuronIntGrad |a * mean_k dy/da (alpha_k x)|, the gradient averaged over the scaled
  inputs alpha_k = k / steps, k = 1..steps (the alpha = 1 row gives a); all scaled inputs of a chunk
  go through the network as one batch with one backward.
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Sequence

import torch
from torch import Tensor, nn

from attriflow.attribution.expansion import check_steps
from attriflow.attribution.relu_override import override_relus
from attriflow.attribution.targets import target_scores
from attriflow.errors import UserError

CONTRIBUTIONS = ("mct", "intgrad")


class _NeuronReLU:
    """The ReLU replacement: out-of-place ReLU, optional per-layer mask, optional recording."""

    def __init__(self, masks: Sequence[Tensor] | None = None, record: bool = False):
        self.masks = masks
        self.record = record
        self.outputs: list[Tensor] = []
        self.calls = 0

    def __call__(self, x: Tensor, inplace: bool) -> Tensor:
        y = torch.relu(x)
        layer = self.calls
        self.calls += 1
        if self.masks is not None:
            if layer >= len(self.masks):
                raise UserError(f"the model made more ReLU calls ({layer + 1}) than the {len(self.masks)} layers of the "
                                "pathway: the network must call its ReLUs in the same order on every forward pass")
            m = self.masks[layer]
            if m.shape != y.shape:
                raise UserError(f"ReLU call {layer}: output {tuple(y.shape)} does not match its pathway mask "
                                f"{tuple(m.shape)} (the network must call its ReLUs in the same order every time)")
            y = y * m.to(y.dtype)
        if self.record:
            self.outputs.append(y)
        return y


@contextlib.contextmanager
def neurons(masks: Sequence[Tensor] | None = None, record: bool = False) -> Iterator[_NeuronReLU]:
    """Context manager: every ReLU call inside the block is masked (``masks[k]`` for the k-th call,
    shaped like its output) and/or recorded (``.outputs``); nothing stays behind afterwards."""
    relu = _NeuronReLU(masks, record)
    with override_relus(relu):
        yield relu
    if masks is not None and relu.calls != len(masks):
        raise UserError(f"the model made {relu.calls} ReLU calls but the pathway has {len(masks)} layers")


def _check_relus(outputs: list[Tensor]) -> None:
    if not outputs:
        raise UserError("the model calls no ReLU: pathway methods need ReLU networks (neurons are ReLU outputs)")


def activations(model: nn.Module, x: Tensor, masks: Sequence[Tensor] | None = None) -> list[Tensor]:
    """Every ReLU output (N, ...) of one forward pass without gradients, in call order."""
    with torch.no_grad(), neurons(masks, record=True) as relu:
        model(x)
    _check_relus(relu.outputs)
    return relu.outputs


def neuron_gradients(model: nn.Module, x: Tensor, target: Tensor,
                     masks: Sequence[Tensor] | None = None) -> tuple[list[Tensor], list[Tensor], Tensor]:
    """(activations, d score / d activation, logits): one forward and ONE backward for every layer."""
    x = x.detach().requires_grad_(True)  # so the activations are in the graph even with frozen weights
    with torch.enable_grad(), neurons(masks, record=True) as relu:
        logits = model(x)
    _check_relus(relu.outputs)
    score = target_scores(logits, target).sum()
    grads = torch.autograd.grad(score, relu.outputs, allow_unused=True)
    grads = [torch.zeros_like(a) if g is None else g for a, g in zip(relu.outputs, grads)]
    return [a.detach() for a in relu.outputs], grads, logits.detach()


def neuron_contributions(model: nn.Module, x: Tensor, target: Tensor, how: str = "mct", *, steps: int = 10,
                         batch_size: int | None = None, masks: Sequence[Tensor] | None = None) -> list[Tensor]:
    """Contribution score of every neuron, one (N, ...) tensor per ReLU call (see the module docstring).

    ``intgrad`` evaluates the N x steps scaled inputs in chunks of at most ``batch_size`` rows, one
    forward and one backward per chunk. ``masks`` (optional) scores the neurons of a masked network.
    """
    if how not in CONTRIBUTIONS:
        raise UserError(f"contributions={how!r} is not valid; valid: {', '.join(CONTRIBUTIONS)}")
    if how == "mct":
        acts, grads, _ = neuron_gradients(model, x, target, masks)
        return [(a * g).abs() for a, g in zip(acts, grads)]
    check_steps(steps)
    n = len(x)
    total_rows = n * steps
    chunk = batch_size or total_rows
    alphas = torch.arange(1, steps + 1, device=x.device, dtype=x.dtype) / steps
    acts: list[Tensor] | None = None
    sums: list[Tensor] | None = None
    for start in range(0, total_rows, chunk):
        r = torch.arange(start, min(start + chunk, total_rows), device=x.device)
        image, step = r // steps, r % steps
        rows = alphas[step].view(-1, *([1] * (x.ndim - 1))) * x[image]
        row_masks = None if masks is None else [m[image] for m in masks]
        a, g, _ = neuron_gradients(model, rows, target[image], row_masks)
        if sums is None:
            sums = [gi.new_zeros((n, *gi.shape[1:])) for gi in g]
            acts = [ai.new_zeros((n, *ai.shape[1:])) for ai in a]
        last = step == steps - 1  # alpha = 1: the activation at the input itself
        for s, ac, ai, gi in zip(sums, acts, a, g):
            s.index_add_(0, image, gi)
            ac[image[last]] = ai[last]
    assert sums is not None and acts is not None
    return [(ac * s / steps).abs() for ac, s in zip(acts, sums)]


def masked_gradient(model: nn.Module, x: Tensor, target: Tensor, masks: Sequence[Tensor] | None) -> Tensor:
    """d score / d x of the network whose ReLU outputs are multiplied by ``masks`` (None: unmasked)."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad(), (neurons(masks) if masks is not None else contextlib.nullcontext()):
        logits = model(x)
    (grad,) = torch.autograd.grad(target_scores(logits, target).sum(), x)
    return grad


@torch.no_grad()
def masked_logits(model: nn.Module, x: Tensor, masks: Sequence[Tensor] | None) -> Tensor:
    """The (N, classes) output of the network with ``masks`` applied to its ReLU outputs."""
    with neurons(masks) if masks is not None else contextlib.nullcontext():
        return model(x)


__all__ = ["CONTRIBUTIONS", "activations", "masked_gradient", "masked_logits", "neuron_contributions",
           "neuron_gradients", "neurons"]
