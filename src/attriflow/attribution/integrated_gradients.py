"""Integrated Gradients (Sundararajan et al. 2017) with zero, blurred, uniform or given baselines.

attribution = (x - b) * sum_k w_k * grad f(b + alpha_k (x - b)), with the nodes alpha_k and weights
w_k of the chosen quadrature; the steps x images rows are evaluated in chunks of ``batch_size``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attriflow.attribution.expansion import check_steps, sum_over_rows
from attriflow.attribution.fast_mode import FastOrExact
from attriflow.attribution.gradients import input_gradient
from attriflow.attribution.registry import register_method
from attriflow.errors import UserError

INTEGRATION = ("gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid")
BASELINES = ("zero", "blurred", "uniform")


def quadrature(integration: str, steps: int) -> tuple[list[float], list[float]]:
    """Nodes alpha in [0, 1] and weights (summing to 1) of ``steps``-point rule ``integration``.

    Nodes are Captum's; ``riemann_trapezoid`` uses the proper weights 1/(n-1) (ends halved), where
    Captum uses 1/n, so its trapezoid sums differ from Captum's by the factor n/(n-1).
    """
    if integration not in INTEGRATION:
        raise UserError(f"integration={integration!r} is not valid; valid: {', '.join(INTEGRATION)}")
    check_steps(steps)
    n = steps
    if integration == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(n)
        return (0.5 * (1 + nodes)).tolist(), (0.5 * weights).tolist()
    if integration == "riemann_trapezoid":
        if n < 2:
            raise UserError("riemann_trapezoid needs steps >= 2")
        w = [1.0 / (n - 1)] * n
        w[0] /= 2
        w[-1] /= 2
        return torch.linspace(0, 1, n).tolist(), w
    alphas = {
        "riemann_left": torch.linspace(0, 1 - 1 / n, n),
        "riemann_right": torch.linspace(1 / n, 1, n),
        "riemann_middle": torch.linspace(1 / (2 * n), 1 - 1 / (2 * n), n),
    }[integration]
    return alphas.tolist(), [1.0 / n] * n


def generator(seed: int | None, device: torch.device) -> torch.Generator | None:
    """A private generator seeded with ``seed``, or None (torch's global generator)."""
    if seed is None:
        return None
    g = torch.Generator(device=device)
    g.manual_seed(int(seed))
    return g


def make_baseline(x: Tensor, baseline, blur_sigma: float, gen: torch.Generator | None) -> Tensor:
    """The (N, C, H, W) baseline: 'zero', 'blurred' (Gaussian, sigma in pixels), 'uniform' (in each
    image's [min, max]), a number (constant image) or a tensor broadcastable to x."""
    if isinstance(baseline, str):
        if baseline == "zero":
            return torch.zeros_like(x)
        if baseline == "blurred":
            return gaussian_blur(x, blur_sigma)
        if baseline == "uniform":
            lo = x.amin(dim=(1, 2, 3), keepdim=True)
            hi = x.amax(dim=(1, 2, 3), keepdim=True)
            return lo + (hi - lo) * torch.rand(x.shape, generator=gen, device=x.device, dtype=x.dtype)
        raise UserError(f"baseline={baseline!r} is not valid; valid: {', '.join(BASELINES)}, a number or a tensor")
    if isinstance(baseline, (int, float)) and not isinstance(baseline, bool):
        return torch.full_like(x, float(baseline))
    if isinstance(baseline, Tensor):
        try:
            return baseline.to(device=x.device, dtype=x.dtype).expand_as(x).contiguous()
        except RuntimeError as exc:
            raise UserError(
                f"baseline of shape {tuple(baseline.shape)} does not broadcast to x {tuple(x.shape)}"
            ) from exc
    raise UserError(
        f"baseline must be one of {', '.join(BASELINES)}, a number or a tensor, got {type(baseline).__name__}"
    )


def gaussian_blur(x: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur of (N, C, H, W) images, ``sigma`` in pixels, replicate padding."""
    if sigma <= 0:
        raise UserError(f"blur_sigma must be positive, got {sigma}")
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    out = F.pad(x, (radius, radius, 0, 0), mode="replicate")
    out = F.conv2d(out, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    out = F.pad(out, (0, 0, radius, radius), mode="replicate")
    return F.conv2d(out, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


@register_method(
    "integrated_gradients",
    description="Integrated Gradients: (x - baseline) times the path integral of the gradient "
    "(Sundararajan et al. 2017)",
    docs={
        "baseline": "path start: 'zero', 'blurred' (Gaussian blur of x), 'uniform' (noise in each image's "
        "[min, max]), a number or a tensor broadcastable to x",
        "blur_sigma": "standard deviation in pixels of the blur for baseline='blurred'",
        "integration": "quadrature rule over the path (Captum's names)",
    },
    choices={"baseline": BASELINES, "integration": INTEGRATION},
    guard=False,
)
def integrated_gradients(
    model: nn.Module, x: Tensor, target: Tensor, *, steps: int = 50, baseline="zero", blur_sigma: float = 5.0,
    integration: str = "gausslegendre", batch_size: int | None = 32, seed: int | None = None, fast: bool = False,
) -> Tensor:
    """Integrated gradients of the target score, (N, C, H, W)."""
    alphas, weights = quadrature(integration, steps)
    base = make_baseline(x, baseline, blur_sigma, generator(seed, x.device))
    diff = x - base
    alpha = torch.tensor(alphas, device=x.device, dtype=x.dtype).view(-1, 1, 1, 1)
    runner = FastOrExact(model, input_gradient, fast, "integrated_gradients")

    def make_rows(image: Tensor, step: Tensor) -> Tensor:
        return base[image] + alpha[step] * diff[image]

    total = sum_over_rows(
        len(x), steps, batch_size, make_rows, lambda rows, image: runner(rows, target[image]),
        weights=torch.tensor(weights, device=x.device, dtype=x.dtype), device=x.device,
    )
    return diff * total
