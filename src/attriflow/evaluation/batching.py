"""What every evaluation shares: explainer calls checked for shape, targets, chunked forwards."""

from __future__ import annotations

from typing import Callable, Iterator, Mapping

import torch
from torch import Tensor, nn

from attriflow.errors import UserError
from attriflow.models.heads import ScoreHead, check_head, check_targets, num_classes, predicted

Explainer = Callable[[nn.Module, Tensor, Tensor], Tensor]
"""``explain(model, x, target) -> (N, H, W)`` maps for images ``x`` (N, C, H, W) and classes ``target`` (N,)."""


def chunks(n: int, batch_size: int) -> Iterator[slice]:
    """Consecutive slices of at most ``batch_size`` covering ``range(n)``."""
    if int(batch_size) < 1:
        raise UserError(f"batch_size must be a positive integer, got {batch_size!r}")
    for start in range(0, n, int(batch_size)):
        yield slice(start, min(start + int(batch_size), n))


def check_images(x: Tensor) -> Tensor:
    """``x`` if it is a float (N, C, H, W) batch, else a UserError naming its shape."""
    if not isinstance(x, Tensor) or x.ndim != 4 or not x.is_floating_point():
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise UserError(f"images must be a float tensor (N, C, H, W), got {shape}")
    return x


def check_maps(maps: Tensor, x: Tensor, what: str = "maps") -> Tensor:
    """``maps`` as (N, H, W) matching images ``x``; a (N, 1, H, W) map is squeezed, channels are refused."""
    if not isinstance(maps, Tensor):
        maps = torch.as_tensor(maps)
    if maps.ndim == 4 and maps.shape[1] == 1:
        maps = maps[:, 0]
    if maps.ndim != 3 or maps.shape[0] != x.shape[0] or maps.shape[-2:] != x.shape[-2:]:
        raise UserError(
            f"{what} must be (N, H, W) = ({x.shape[0]}, {x.shape[-2]}, {x.shape[-1]}) to match the images, "
            f"got {tuple(maps.shape)} (sum channels first, e.g. attribute(..., reduce='sum'))"
        )
    return maps


def as_targets(target: int | Tensor | None, n: int, device: torch.device,
               logits: Callable[[], Tensor] | None = None, head: str = "multiclass") -> Tensor:
    """Targets as a long (n,) tensor: an int for all, a (n,) tensor, or ``None`` = the predicted
    class of ``head`` from ``logits()`` (:func:`attriflow.models.heads.predicted`). Given targets
    are checked against the classes of ``head`` when ``logits`` is given."""
    check_head(head)
    if target is None:
        if logits is None:
            raise UserError("target=None needs the model's logits to take the predicted class")
        return predicted(head, logits()).to(device)
    if isinstance(target, bool):
        raise UserError(f"target must be an int or an integer tensor of shape ({n},), got {target!r}")
    if isinstance(target, int):
        target = torch.full((n,), target, dtype=torch.long, device=device)
    target = torch.as_tensor(target, device=device)
    if target.ndim != 1 or len(target) != n or target.is_floating_point():
        raise UserError(f"target must be an int or an integer tensor of shape ({n},), got {tuple(target.shape)} {target.dtype}")
    if logits is not None:
        check_targets(head, num_classes(head, logits()), target)
    return target.long()


@torch.no_grad()
def predict_logits(model: nn.Module, x: Tensor, batch_size: int = 64) -> Tensor:
    """The model's outputs for ``x`` in chunks of ``batch_size`` (no graph kept); a UserError for
    images the model cannot take or outputs that are not finite."""
    from attriflow.attribution.dispatch import check_finite, input_errors

    with input_errors(x):
        out = torch.cat([model(x[s]) for s in chunks(len(x), batch_size)])
    check_finite(out, "the model's outputs")
    return out


def explain_checked(explain: Explainer, name: str, model: nn.Module, x: Tensor, target: Tensor,
                    head: str = "multiclass") -> Tensor:
    """``explain(model, x, target)`` detached, checked to be (N, H, W) like ``x``. The explainer sees
    the model's class scores of ``head`` (:class:`attriflow.models.heads.ScoreHead`), so a
    multiclass explainer indexes a binary head's classes 0 / 1 correctly."""
    with ScoreHead(model, head):
        maps = explain(model, x, target)
    return check_maps(maps, x, what=f"explainer {name!r} output").detach()


def check_explainers(explainers: Mapping[str, Explainer]) -> Mapping[str, Explainer]:
    """``explainers`` if it is a non-empty name -> callable mapping."""
    if not isinstance(explainers, Mapping) or not explainers:
        raise UserError(f"explainers must be a non-empty mapping name -> explain(model, x, target), got {type(explainers).__name__}")
    bad = [k for k, v in explainers.items() if not callable(v)]
    if bad:
        raise UserError(f"explainers {bad} are not callable; each must be explain(model, x, target) -> (N, H, W)")
    return explainers


def check_given_maps(maps: Mapping[str, Tensor] | None, explainers: Mapping[str, Explainer], x: Tensor,
                     what: str) -> dict[str, Tensor]:
    """Precomputed maps (method -> (N, H, W) maps of ``x``) checked, detached and on ``x``'s device;
    ``{}`` for ``None``. Each method must also be in ``explainers``, which make its other maps."""
    if maps is None:
        return {}
    if not isinstance(maps, Mapping):
        raise UserError(f"{what} must be a mapping method name -> (N, H, W) maps, got {type(maps).__name__}")
    unknown = [k for k in maps if k not in explainers]
    if unknown:
        raise UserError(f"{what} has maps of {unknown} but no explainer for them; explainers: {list(explainers)}")
    return {k: check_maps(v, x, what=f"{what}[{k!r}]").detach().to(x.device) for k, v in maps.items()}
