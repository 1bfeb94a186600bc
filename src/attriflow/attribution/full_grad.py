"""FullGrad (Srinivas and Fleuret 2019): input-gradient and bias-gradient maps, one backward.

Full-gradient decomposition: for a ReLU network with biases,
f(x) = <df/dx, x> + sum over layers l of <df/dz_l, b_l>, z_l the output of a layer with bias b_l
(convolution and linear biases; a BatchNorm in eval mode is affine with the effective bias
beta - gamma * running_mean / sqrt(running_var + eps)). :func:`full_gradient_terms` returns the
terms; the map is psi(x * df/dx) + sum over 4-D layers of psi(df/dz_l * b_l), where psi applies the
aggregation ('absolute' as the paper, 'positive' part, or 'signed'), rescales per image (min-max
to [0, 1]; 'signed' is divided by the largest magnitude instead, keeping signs), sums channels and
upsamples bilinearly (align_corners=True, as the authors' code).

The bias-gradients are collected in the one backward pass by tensor hooks on the layer outputs
(registered before any later in-place op, so they see the gradient of the layer output itself);
each is reduced over channels before upsampling (upsampling is linear, so this equals upsampling
every channel and summing).
"""

from __future__ import annotations

import warnings
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attriflow.attribution.cam import AGGREGATIONS, aggregate
from attriflow.attribution.registry import register_method
from attriflow.attribution.targets import target_scores

_BIASED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
EPS = 1e-6


def effective_bias(module: nn.Module) -> Tensor | None:
    """The additive term of a conv / linear / eval-mode BatchNorm layer, or None if it has none."""
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        if module.running_mean is None:
            return None
        scale = torch.rsqrt(module.running_var + module.eps)
        if module.weight is not None:
            scale = scale * module.weight
        bias = -module.running_mean * scale
        return bias + module.bias if module.bias is not None else bias
    return getattr(module, "bias", None)


def _fuses_more(module: nn.Module) -> bool:
    """True for subclasses of the biased layer types that override their forward (timm's BatchNormAct2d)."""
    base = next(t for t in _BIASED if isinstance(module, t))
    return type(module).forward is not base.forward


def _shaped(bias: Tensor, module: nn.Module, ndim: int) -> Tensor:
    if isinstance(module, nn.Linear):
        return bias  # broadcasts over the last dimension
    return bias.view(1, -1, *([1] * (ndim - 2)))


def full_gradient_terms(
    model: nn.Module, x: Tensor, target: Tensor, on_bias_gradient: Callable[[nn.Module, Tensor], None],
) -> Tensor:
    """df/dx for ``x``; calls ``on_bias_gradient(module, df/dz * b)`` for every biased layer output z."""
    handles = []

    def forward_hook(module, _inputs, output):
        bias = effective_bias(module)
        if bias is None or not isinstance(output, Tensor) or not output.requires_grad:
            return
        b = _shaped(bias.detach(), module, output.ndim)
        output.register_hook(lambda g, module=module, b=b: on_bias_gradient(module, g * b))

    try:
        for module in model.modules():
            if isinstance(module, _BIASED):
                if _fuses_more(module):
                    warnings.warn(
                        f"full_grad: {type(module).__name__} applies more than its affine map (e.g. a fused "
                        "activation); its bias-gradient is taken at its output, so completeness is approximate",
                        stacklevel=4,
                    )
                handles.append(module.register_forward_hook(forward_hook))
        x = x.detach().requires_grad_(True)
        logits = model(x)
        (grad,) = torch.autograd.grad(target_scores(logits, target).sum(), x)
    finally:
        for h in handles:
            h.remove()
    return grad


def rescaled_channel_sum(t: Tensor, aggregation: str) -> Tensor:
    """psi(t) summed over channels: (N, C, h, w) -> (N, 1, h, w), rescaled per image."""
    a = aggregate(t, aggregation)
    dims = tuple(range(1, a.ndim))
    s = a.sum(dim=1, keepdim=True)
    if aggregation == "signed":
        return s / (a.abs().amax(dim=dims, keepdim=True) + EPS)
    lo = a.amin(dim=dims, keepdim=True)
    hi = a.amax(dim=dims, keepdim=True)
    return (s - a.shape[1] * lo) / (hi - lo + EPS)


@register_method(
    "full_grad",
    description="FullGrad: input-gradient x input plus the bias-gradients of every conv / BatchNorm layer "
    "(Srinivas and Fleuret 2019)",
    docs={"aggregation": "per-term post-processing: 'absolute' |.| (the paper), 'positive' ReLU(.), or 'signed'"},
    choices={"aggregation": AGGREGATIONS},
    spatial=True,
    guard=False,
)
def full_grad(model: nn.Module, x: Tensor, target: Tensor, *, aggregation: str = "absolute") -> Tensor:
    """The FullGrad saliency map, (N, 1, H, W)."""
    aggregate(x[:0], aggregation)  # validates the switch before any work
    size = x.shape[-2:]
    total = torch.zeros((len(x), 1, *size), device=x.device, dtype=x.dtype)

    def add_bias_term(_module: nn.Module, term: Tensor) -> None:
        if term.ndim == 4:
            total.add_(F.interpolate(rescaled_channel_sum(term, aggregation), size=size, mode="bilinear",
                                     align_corners=True))

    grad = full_gradient_terms(model, x, target, add_bias_term)
    return total + rescaled_channel_sum(grad * x, aggregation)
