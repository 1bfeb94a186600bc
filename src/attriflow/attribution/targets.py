"""Which output to explain: target classes as a (N,) tensor, and the scores they select."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from attriflow.errors import UserError
from attriflow.models.heads import as_outputs

TargetLike = int | Tensor | list | tuple | None


def as_target_tensor(target: TargetLike, n: int, device: torch.device) -> Tensor | None:
    """``target`` as a (n,) long tensor on ``device``; None stays None (the predicted class).

    Accepts an int (same class for every image), a sequence or a (n,) integer tensor / array.
    """
    if target is None:
        return None
    if isinstance(target, bool):
        raise UserError(f"target must be an int, a (N,) integer tensor or None, got {target!r}")
    if isinstance(target, int):
        return torch.full((n,), target, dtype=torch.long, device=device)
    try:
        t = torch.as_tensor(target)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise UserError(f"target must be an int, a (N,) integer tensor or None, got {type(target).__name__}") from exc
    if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
        raise UserError(f"target must hold integer class indices, got dtype {t.dtype}")
    if t.ndim == 0:
        return torch.full((n,), int(t), dtype=torch.long, device=device)
    if t.shape != (n,):
        raise UserError(f"target must have shape ({n},) to match x, got {tuple(t.shape)}")
    return t.to(device=device, dtype=torch.long)


def class_scores(logits: Any) -> Tensor:
    """The model output as (N, classes); a (N,) output (one regression score) becomes (N, 1)."""
    return as_outputs(logits)


def target_scores(logits: Any, target: Tensor) -> Tensor:
    """The (N,) scores of ``target`` in ``logits``; a UserError names an out-of-range class."""
    logits = class_scores(logits)
    n_classes = logits.shape[1]
    if target.numel():
        lo, hi = int(target.min()), int(target.max())
        if lo < 0 or hi >= n_classes:
            bad = lo if lo < 0 else hi
            raise UserError(
                f"target class {bad} is out of range: the model has {n_classes} outputs (0..{n_classes - 1})"
            )
    return logits.gather(1, target[:, None]).squeeze(1)


@torch.no_grad()
def predict(model: nn.Module, x: Tensor, batch_size: int | None = None) -> Tensor:
    """The model's (N, classes) outputs for ``x``, in chunks of ``batch_size`` images, without gradients."""
    step = batch_size or len(x) or 1
    return torch.cat([class_scores(model(x[i : i + step])) for i in range(0, len(x), step)])
