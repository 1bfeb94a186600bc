"""GradCAM (Selvaraju et al. 2017) and GradCAM++ (Chattopadhyay et al. 2018), one implementation.

With A the layer's feature map and g = d score / dA:
- GradCAM weights: w_c = mean_ij phi(g_cij);
- GradCAM++ weights: w_c = sum_ij alpha_cij phi(g_cij), alpha = g^2 / (2 g^2 + sum_ab A_cab * g^3)
  (0 where the denominator is 0);
map = [ReLU](sum_c w_c A_c), upsampled bilinearly (align_corners=False, as Captum) to the input size.
phi is the aggregation switch of the positive-grad paper: 'signed' (g), 'positive' (ReLU(g)) or
'absolute' (|g|). Plain GradCAM is 'signed', GradCAM++ is 'positive'; the other values are the
paper's variants.

Cost: the forward runs without recording a graph up to the layer and with it from the layer on;
the backward goes from the score to the layer only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attriflow.attribution.layers import default_layer, resolve_layer
from attriflow.attribution.registry import register_method
from attriflow.attribution.targets import target_scores
from attriflow.errors import UserError

AGGREGATIONS = ("signed", "positive", "absolute")


def layer_activation_and_gradient(model: nn.Module, x: Tensor, target: Tensor, layer: str) -> tuple[Tensor, Tensor]:
    """The feature map A of ``layer`` for ``x`` and d score[target] / dA (one forward, one backward to A)."""
    module = resolve_layer(model, layer)
    captured: list[Tensor] = []

    def hook(_module, _inputs, output):
        if captured:
            raise UserError(f"layer {layer!r} is called more than once per forward; choose a module called once")
        if not isinstance(output, Tensor) or output.ndim != 4:
            shape = tuple(output.shape) if isinstance(output, Tensor) else type(output).__name__
            raise UserError(f"layer {layer!r} outputs {shape}; CAM methods need a 4-D (N, C, h, w) feature map")
        torch.set_grad_enabled(True)  # record the graph from here on (the no_grad block restores the mode)
        leaf = output.detach().requires_grad_(True)
        captured.append(leaf)
        return leaf.clone()  # later in-place ops (DenseNet's F.relu) must not touch the leaf

    handle = module.register_forward_hook(hook)
    try:
        with torch.no_grad():
            logits = model(x)
    finally:
        handle.remove()
    if not captured:
        raise UserError(f"layer {layer!r} is not used in the model's forward pass")
    (grad,) = torch.autograd.grad(target_scores(logits, target).sum(), captured[0])
    return captured[0].detach(), grad


def aggregate(g: Tensor, aggregation: str) -> Tensor:
    """phi(g): 'signed' g, 'positive' ReLU(g), 'absolute' |g|."""
    if aggregation == "signed":
        return g
    if aggregation == "positive":
        return g.clamp(min=0)
    if aggregation == "absolute":
        return g.abs()
    raise UserError(f"aggregation={aggregation!r} is not valid; valid: {', '.join(AGGREGATIONS)}")


def cam_from(a: Tensor, g: Tensor, *, plus_plus: bool, aggregation: str, relu: bool) -> Tensor:
    """The (N, 1, h, w) class activation map from feature map ``a`` and its gradient ``g``."""
    phi = aggregate(g, aggregation)
    if plus_plus:
        g2 = g * g
        denom = 2 * g2 + a.sum(dim=(2, 3), keepdim=True) * g2 * g
        nonzero = denom != 0
        alpha = torch.where(nonzero, g2 / torch.where(nonzero, denom, torch.ones_like(denom)), torch.zeros_like(g))
        weights = (alpha * phi).sum(dim=(2, 3), keepdim=True)
    else:
        weights = phi.mean(dim=(2, 3), keepdim=True)
    cam = (weights * a).sum(dim=1, keepdim=True)
    return cam.clamp(min=0) if relu else cam


_DOCS = {
    "aggregation": "gradients aggregated into channel weights as 'signed' g, 'positive' ReLU(g) or "
    "'absolute' |g| (positive-grad switches)",
    "relu": "ReLU of the weighted channel sum (as both papers); False keeps negative evidence",
}


@register_method(
    "grad_cam",
    description="GradCAM: feature map weighted by the spatial mean of its gradients (Selvaraju et al. 2017)",
    fixed={"plus_plus": False}, defaults={"aggregation": "signed"}, docs=_DOCS,
    choices={"aggregation": AGGREGATIONS}, spatial=True, guard=False,
)
@register_method(
    "grad_cam_pp", description="GradCAM++: alpha-weighted positive gradients as channel weights "
    "(Chattopadhyay et al. 2018)",
    fixed={"plus_plus": True}, defaults={"aggregation": "positive"}, docs=_DOCS,
    choices={"aggregation": AGGREGATIONS}, spatial=True, guard=False,
)
def class_activation_map(
    model: nn.Module, x: Tensor, target: Tensor, *, plus_plus: bool, layer: str | None = None,
    aggregation: str = "signed", relu: bool = True,
) -> Tensor:
    """GradCAM / GradCAM++ of ``layer``, (N, 1, H, W) at the input resolution."""
    name = layer if layer is not None else default_layer(model, x)
    a, g = layer_activation_and_gradient(model, x, target, name)
    cam = cam_from(a, g, plus_plus=plus_plus, aggregation=aggregation, relu=relu)
    return F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)
