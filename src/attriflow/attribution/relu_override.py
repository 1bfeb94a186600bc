"""Modified ReLU backward passes (guided backprop, deconvnet, RectGrad) without touching the model.

Every ReLU call made while :func:`override_relus` is active (``nn.ReLU`` modules, ``F.relu``,
``torch.relu``, ``Tensor.relu`` and their in-place forms) is intercepted with a torch function
mode, so torchvision ResNet's one shared in-place ReLU module, functional ReLUs (DenseNet's after
``features``) and ReLUs of any other model are all handled per call; no hook is registered and no
module is replaced. In-place calls stay in place (the replacement marks its input dirty).
Other activations (ReLU6, LeakyReLU, SiLU, ...) are left alone.

Backward rules for y = relu(x), incoming gradient g, activation a = y:

- ``guided``: relu(g) * 1[a > 0]  (Springenberg et al. 2015; positive propagation)
- ``deconv``: relu(g)              (Zeiler and Fergus 2014; no forward mask)
- ``rect``:   g * 1[a > 0] * 1[s > tau], s = a * g (or |a * g|), tau = the q-th percentile of s over
  each sample's units in this call (Kim et al. 2019, RectGrad). The percentile is the nearest rank
  (``kthvalue``). Unlike the authors' TensorFlow code, the ReLU mask 1[a > 0] is kept, so a
  negative tau cannot leak gradient through dead units and q = 0 (no rectification) is the plain
  gradient.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.overrides import TorchFunctionMode

RULES = ("guided", "deconv", "rect")

# ReLU entry points -> whether the call is in place (None: read F.relu's ``inplace`` argument)
_RELU_CALLS: dict[Callable, bool | None] = {
    torch.relu: False,
    Tensor.relu: False,
    torch.relu_: True,
    Tensor.relu_: True,
    F.relu: None,
}
if F.relu_ is not torch.relu_:
    _RELU_CALLS[F.relu_] = True

Replacement = Callable[[Tensor, bool], Tensor]


class _ReLUMode(TorchFunctionMode):
    def __init__(self, replacement: Replacement):
        super().__init__()
        self.replacement = replacement

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        inplace = _relu_kind(func)
        if inplace is _NOT_RELU:
            return func(*args, **kwargs)
        if inplace is None:
            inplace = bool(kwargs.get("inplace", args[1] if len(args) > 1 else False))
        return self.replacement(args[0], inplace)


_NOT_RELU = object()


def _relu_kind(func):
    try:
        return _RELU_CALLS.get(func, _NOT_RELU)
    except TypeError:  # unhashable callables are never ReLUs
        return _NOT_RELU


@contextlib.contextmanager
def override_relus(replacement: Replacement) -> Iterator[None]:
    """Route every ReLU call inside the block to ``replacement(input, inplace) -> output``.

    Other modules (e.g. pathway masks) can use this to act on every ReLU output of any model.
    """
    with _ReLUMode(replacement):
        yield


def rule_relu(rule: str, q: float = 98.0, absolute_scores: bool = False) -> Replacement:
    """A ReLU replacement whose backward applies ``rule`` (one of RULES) when gradients are recorded."""
    if rule not in RULES:
        raise ValueError(f"unknown ReLU rule {rule!r}; valid: {', '.join(RULES)}")

    def replacement(x: Tensor, inplace: bool) -> Tensor:
        if not (torch.is_grad_enabled() and x.requires_grad):
            return torch.relu_(x) if inplace else torch.relu(x)
        return _RuledReLU.apply(x, rule, q, absolute_scores, inplace)

    return replacement


class _RuledReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, rule, q, absolute_scores, inplace):
        if inplace:
            out = torch.relu_(x)
            ctx.mark_dirty(x)
        else:
            out = torch.relu(x)
        ctx.save_for_backward(out)
        ctx.rule, ctx.q, ctx.absolute_scores = rule, q, absolute_scores
        return out

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        if ctx.rule == "guided":
            grad = torch.ops.aten.threshold_backward(g.clamp(min=0), a, 0)  # relu(g) * 1[a > 0], fused
        elif ctx.rule == "deconv":
            grad = g.clamp(min=0)
        else:
            grad = torch.ops.aten.threshold_backward(g, a, 0) * rectification_mask(a * g, ctx.q, ctx.absolute_scores)
        return grad, None, None, None, None


def rectification_mask(scores: Tensor, q: float, absolute: bool = False) -> Tensor:
    """1 where a unit's score exceeds the q-th percentile of its sample's scores (RectGrad)."""
    if absolute:
        scores = scores.abs()
    flat = scores.reshape(len(scores), -1)
    n = flat.shape[1]
    k = min(n, max(1, int(round(q / 100.0 * (n - 1))) + 1))  # nearest rank, 1-based
    above = n - k + 1  # values at or above the threshold
    if above <= n // 2:  # the usual high percentile: a partial top-k is cheaper than a full selection
        tau = flat.topk(above, dim=1, sorted=False).values.amin(dim=1)
    else:
        tau = flat.kthvalue(k, dim=1).values
    return (scores > tau.view(-1, *([1] * (scores.ndim - 1)))).to(scores.dtype)
