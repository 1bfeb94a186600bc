"""The random baseline: i.i.d. uniform attributions, for ROAR and sanity checks."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from attriflow.attribution.integrated_gradients import generator
from attriflow.attribution.registry import register_method


@register_method(
    "random", description="uniform random attributions in [0, 1), independent of model and target (baseline)",
    chunk=False, guard=False,
)
def random_attribution(model: nn.Module, x: Tensor, target: Tensor, *, seed: int | None = None) -> Tensor:
    """(N, C, H, W) uniform noise; ``seed`` makes it reproducible without touching the global generator."""
    return torch.rand(x.shape, generator=generator(seed, x.device), device=x.device, dtype=x.dtype)
