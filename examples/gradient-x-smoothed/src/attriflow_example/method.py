"""Gradient times a Gaussian-smoothed copy of the input: input x gradient with the pixel noise blurred out."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from attriflow.attribution import input_gradient


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur every channel of (N, C, H, W) ``x`` with a Gaussian of ``sigma`` pixels (reflect padding)."""
    if sigma <= 0:
        return x
    radius = max(1, int(round(3 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = kernel / kernel.sum()
    c = x.shape[1]
    pad = min(radius, x.shape[-1] - 1, x.shape[-2] - 1)
    if pad < radius:  # images smaller than the kernel: crop the kernel to what reflect padding allows
        kernel = kernel[radius - pad: radius + pad + 1]
        kernel = kernel / kernel.sum()
    y = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    y = F.conv2d(y, kernel.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(y, kernel.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def gradient_x_smoothed(model, x, target, *, sigma: float = 1.0):
    """gradient x Gaussian-smoothed input (example plug-in)

    sigma: standard deviation of the Gaussian blur of the input in pixels (0: plain gradient x input)
    """
    return input_gradient(model, x, target) * gaussian_blur(x, float(sigma))
