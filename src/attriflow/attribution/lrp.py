"""Layer-wise relevance propagation with Zennit's rules, composites and canonizers.

One composite builder for the four rules (Zennit's layer map: Pass for activations, the
normalising rule for sums and average pooling, Epsilon for dense layers); convolutions get
- Epsilon (``lrp_epsilon``; with epsilon -> 0 this is LRP-0, and LRP-0 x logit = gradient x input
  on ReLU networks);
- z+ (``lrp_zplus``): Zennit's ZPlus with every bias left out of the rule (Montavon et al. 2017:
  R_i = sum_j z_ij+ / sum_i z_ij+ R_j, z_ij = x_i w_ij), so convolutions conserve relevance exactly;
- alpha1-beta0 (``lrp_alpha1beta0``) and alpha2-beta1 (``lrp_alpha2beta1``): Zennit's AlphaBeta
  (Bach et al. 2015), whose positive and negative parts include the positive / negative bias, so
  biases absorb relevance (alpha1-beta0 is Zennit's EpsilonPlus[Flat]).
z+ and alpha1-beta0 propagate only positive relevance (the positive-grad paper's point).
``flat_first`` gives the first linear layer (conv or dense) the Flat rule. Canonizers per
architecture: :mod:`attriflow.attribution.canonizers`. A BatchNorm that cannot be merged into a
convolution (DenseNet's after every concatenation) becomes a per-channel affine layer
(:class:`~attriflow.attribution.canonizers.ChannelAffine`): Epsilon under ``lrp_epsilon`` (so the
LRP-0 identity holds), Pass under the other rules (a one-input unit keeps its whole relevance: the
same as merging the BatchNorm into the convolution that produced its input, for a positive scale,
as these rules leave biases out or split them per sign).
The initial relevance is 1 at the target output (Zennit's one-hot convention), so a map sums to
about 1 (less what biases absorb), not to the logit, and its sign does not flip with the logit's.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import Tensor, nn
from attriflow.attribution.registry import register_method
from attriflow.attribution.targets import target_scores
from attriflow.errors import UserError

RULES = ("epsilon", "zplus", "alpha1beta0", "alpha2beta1")


def lrp_composite(
    rule: str, epsilon: float, flat_first: bool, canonizers: list, stabilizer: float = 1e-6,
) -> SpecialFirstLayerMapComposite:
    """The Zennit composite for ``rule`` on convolutions (Epsilon on dense layers)."""
    # Zennit (and the torchvision it imports) load on first use: jobs without LRP start faster
    from zennit.composites import SpecialFirstLayerMapComposite, layer_map_base
    from zennit.rules import AlphaBeta, Epsilon, Flat, Pass, ZPlus
    from zennit.types import Convolution, Linear

    from attriflow.attribution.canonizers import ChannelAffine

    if rule not in RULES:
        raise UserError(f"LRP rule {rule!r} is not valid; valid: {', '.join(RULES)}")
    if epsilon <= 0 or stabilizer <= 0:
        raise UserError(f"epsilon and stabilizer must be positive, got {epsilon} and {stabilizer}")
    conv_rule = {
        "epsilon": lambda: Epsilon(epsilon=epsilon),
        "zplus": lambda: ZPlus(stabilizer=stabilizer, zero_params="bias"),
        # alpha 1, beta 0 is the z+ rule with biases: Zennit's ZPlus computes it in two of AlphaBeta's four passes
        "alpha1beta0": lambda: ZPlus(stabilizer=stabilizer),
        "alpha2beta1": lambda: AlphaBeta(alpha=2, beta=1, stabilizer=stabilizer),
    }[rule]()
    affine_rule = Epsilon(epsilon=epsilon) if rule == "epsilon" else Pass()
    layer_map = [(ChannelAffine, affine_rule)] + layer_map_base(stabilizer) + [
        (Convolution, conv_rule), (nn.Linear, Epsilon(epsilon=epsilon)),
    ]
    first_map = [(Linear, Flat(stabilizer=stabilizer))] if flat_first else []
    return SpecialFirstLayerMapComposite(layer_map=layer_map, first_map=first_map, canonizers=canonizers)


_DOCS = {
    "epsilon": "stabiliser of the Epsilon rule (dense layers; every layer for lrp_epsilon)",
    "stabilizer": "denominator stabiliser of the other rules (z+, alpha-beta, flat, sums, average pooling)",
    "flat_first": "Flat rule for the first linear layer (Zennit's *Flat composites)",
    "canonize": "apply the architecture's canonizers (BatchNorm merge, residual sums); False shows the trap",
}


@register_method(
    "lrp_epsilon", description="LRP with the epsilon rule on every layer (Bach et al. 2015)",
    fixed={"rule": "epsilon"}, defaults={"flat_first": False}, docs=_DOCS,
)
@register_method(
    "lrp_zplus", description="LRP with z+ (biases left out) on convolutions, epsilon on dense layers; "
    "propagates only positive relevance through convolutions and conserves it there",
    fixed={"rule": "zplus"}, docs=_DOCS,
)
@register_method(
    "lrp_alpha1beta0", description="LRP with alpha=1, beta=0 (positive bias included) on convolutions, epsilon "
    "on dense layers (Zennit EpsilonPlusFlat); propagates only positive relevance through convolutions",
    fixed={"rule": "alpha1beta0"}, docs=_DOCS,
)
@register_method(
    "lrp_alpha2beta1", description="LRP with alpha=2, beta=1 on convolutions, epsilon on dense layers "
    "(Zennit EpsilonAlpha2Beta1Flat)",
    fixed={"rule": "alpha2beta1"}, docs=_DOCS,
)
def layerwise_relevance(
    model: nn.Module, x: Tensor, target: Tensor, *, rule: str, epsilon: float = 1e-6, stabilizer: float = 1e-6,
    flat_first: bool = True, canonize: bool = True,
) -> Tensor:
    """LRP relevance of the target output w.r.t. ``x``, (N, C, H, W)."""
    from attriflow.attribution.canonizers import canonizers_for

    composite = lrp_composite(rule, epsilon, flat_first, canonizers_for(model) if canonize else [], stabilizer)
    x = x.detach().requires_grad_(True)
    with out_of_place_relus(model), composite.context(model) as hooked:
        logits = hooked(x)
        (relevance,) = torch.autograd.grad(target_scores(logits, target).sum(), x)
    return relevance


@contextlib.contextmanager
def out_of_place_relus(model: nn.Module) -> Iterator[None]:
    """``nn.ReLU(inplace=True)`` modules made out of place for the block: Zennit's hooks clone
    the input of every in-place call, which costs ResNets ~10% of an LRP pass. Same maps."""
    changed = [m for m in model.modules() if isinstance(m, nn.ReLU) and m.inplace]
    for m in changed:
        m.inplace = False
    try:
        yield
    finally:
        for m in changed:
            m.inplace = True
