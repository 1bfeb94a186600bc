"""SmoothGrad (Smilkov et al. 2017) over any registered base method, and its squared variant.

Each image gets ``samples`` noisy copies x + N(0, (noise * (max - min))^2), max and min over that
image; the base method's attributions of the copies are averaged (``squared``: their squares are
averaged, SmoothGrad-Squared of Hooker et al. 2019). The copies are evaluated in chunks of
``batch_size`` rows (a base that expands rows itself, IG, gets the same ``batch_size``). Noise is
drawn chunk by chunk in image-major order; since torch's normal sampler fills blocks of 16 values,
with the same global seed and C*H*W a multiple of 16 the draws equal Captum's NoiseTunnel
(``nt_samples_batch_size=None``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from attriflow.attribution.expansion import sum_over_rows
from attriflow.attribution.fast_mode import FastOrExact
from attriflow.attribution.integrated_gradients import generator
from attriflow.attribution.registry import get_method, register_method
from attriflow.errors import UserError


@register_method(
    "smoothgrad",
    description="SmoothGrad: average of a base method over noisy copies of the input (Smilkov et al. 2017)",
    docs={
        "base": "registered method applied to every noisy copy (its parameters may be given too)",
        "squared": "average the squared attributions (SmoothGrad-Squared, Hooker et al. 2019)",
    },
    guard=False,
)
def smoothgrad(
    model: nn.Module, x: Tensor, target: Tensor, *, base: str = "gradient", samples: int = 50, noise: float = 0.15,
    squared: bool = False, batch_size: int | None = 32, seed: int | None = None, fast: bool = False, **base_params,
) -> Tensor:
    """Mean (or mean square) of the base method's attributions over noisy copies of x."""
    if samples < 1:
        raise UserError(f"smoothgrad: samples must be >= 1, got {samples}")
    if noise < 0:
        raise UserError(f"smoothgrad: noise must be >= 0, got {noise}")
    method = get_method(base, purpose="base method")
    if "batch_size" in method.params:
        base_params["batch_size"] = batch_size
    span = (x.amax(dim=(1, 2, 3)) - x.amin(dim=(1, 2, 3))).view(-1, 1, 1, 1)
    sigma = noise * span
    gen = generator(seed, x.device)

    def make_rows(image: Tensor, _sample: Tensor) -> Tensor:
        rows = x[image]
        return rows + torch.randn(rows.shape, generator=gen, device=x.device, dtype=x.dtype) * sigma[image]

    def base_fn(m: nn.Module, rows: Tensor, targets: Tensor) -> Tensor:
        out = method.call(m, rows, targets, base_params)
        return out * out if squared else out

    runner = FastOrExact(model, base_fn, fast, f"smoothgrad({base})")
    total = sum_over_rows(len(x), samples, batch_size, make_rows, lambda rows, image: runner(rows, target[image]),
                          device=x.device)
    return total / samples
