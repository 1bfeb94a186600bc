"""Single-pass gradient methods: one forward and one backward w.r.t. the input.

Gradient, Gradient x Input, Guided Backprop, DeconvNet and RectGrad are one implementation:
the input gradient of the target score, with an optional rule for the ReLU backward pass
(:mod:`attriflow.attribution.relu_override`). They differ only in that switch.
"""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor, nn

from attriflow.attribution.registry import register_method
from attriflow.attribution.relu_override import Replacement, override_relus, rule_relu
from attriflow.attribution.targets import target_scores
from attriflow.errors import UserError


def input_gradient(model: nn.Module, x: Tensor, target: Tensor, relu: Replacement | None = None) -> Tensor:
    """d score[target] / d x per image: one forward, one backward, gradients w.r.t. ``x`` only.

    ``relu`` (optional) replaces every ReLU call during the forward (see ``override_relus``).
    """
    x = x.detach().requires_grad_(True)
    with override_relus(relu) if relu is not None else contextlib.nullcontext():
        logits = model(x)
    score = target_scores(logits, target).sum()
    (grad,) = torch.autograd.grad(score, x)
    return grad


_RECT_DOCS = {
    "q": "percentile (0-100) of a*g per layer and sample below which RectGrad zeroes the gradient; "
    "0 rectifies nothing (= gradient)",
    "score": "rank units by the signed a*g or by |a*g| (the absolute variant)",
}


@register_method(
    "gradient", description="vanilla gradient dy/dx (saliency, Simonyan et al. 2014)",
    fixed={"rule": None, "times_input": False}, params=(), guard=False,
)
@register_method(
    "input_x_gradient", description="gradient x input (Shrikumar et al. 2016)",
    fixed={"rule": None, "times_input": True}, params=(), guard=False,
)
@register_method(
    "guided_backprop", description="guided backpropagation: ReLU backward passes only positive gradients "
    "of active units (Springenberg et al. 2015)",
    fixed={"rule": "guided", "times_input": False}, params=(), guard=False,
)
@register_method(
    "deconvnet", description="DeconvNet: ReLU backward is a ReLU of the gradient (Zeiler and Fergus 2014)",
    fixed={"rule": "deconv", "times_input": False}, params=(), guard=False,
)
@register_method(
    "rectgrad", description="RectGrad: at each ReLU keep only gradients whose a*g exceeds the q-th percentile "
    "(Kim et al. 2019)",
    fixed={"rule": "rect", "times_input": False}, docs=_RECT_DOCS, choices={"score": ("signed", "absolute")},
    guard=False,
)
def relu_rule_gradient(
    model: nn.Module, x: Tensor, target: Tensor, *, rule: str | None, times_input: bool,
    q: float = 98.0, score: str = "signed",
) -> Tensor:
    """The input gradient with the ReLU backward ``rule`` (None: unmodified), optionally times x."""
    if not 0.0 <= q <= 100.0:
        raise UserError(f"rectgrad: q must be a percentile in [0, 100], got {q}")
    relu = None
    if rule == "rect" and q == 0.0:
        rule = None  # nothing rectified: the plain gradient
    if rule is not None:
        relu = rule_relu(rule, q=q, absolute_scores=score == "absolute")
    grad = input_gradient(model, x, target, relu)
    return grad * x if times_input else grad
