"""The one entry point: ``attribute(model, x, target, method=..., **params)``.

Validates the method name, its parameters, the input and the target; resolves ``target=None``
to the predicted class; runs the method (in chunks of ``batch_size`` images for single-pass
methods); applies ``absolute`` and ``reduce``; returns on x's device with x's dtype.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any

import torch
from torch import Tensor, nn

from attriflow.attribution.expansion import check_batch_size
from attriflow.attribution.registry import get_method
from attriflow.attribution.storage import AttributionRecord
from attriflow.attribution.targets import TargetLike, as_target_tensor, predict
from attriflow.errors import UserError
from attriflow.models.heads import ScoreHead, check_head, predicted

REDUCTIONS = ("sum", "mean", "max_abs", None)


def attribute(
    model: nn.Module,
    x: Tensor,
    target: TargetLike,
    method: str,
    *,
    head: str = "multiclass",
    reduce: str | None = "sum",
    absolute: bool = False,
    **params: Any,
) -> Tensor:
    """Attribution maps of ``target`` for images ``x`` by the registered ``method``.

    model: any ``nn.Module`` classifier returning (N, classes) scores, used as given (call
        ``model.eval()`` first; its hooks, modules, parameters and flags are unchanged afterwards).
    x: (N, C, H, W) float tensor; computed on the model's device and dtype, returned on x's.
    target: an int (same class for every image), a (N,) integer tensor or sequence, or None for
        the model's predicted class (costs one extra forward pass without gradients); classes are
        indexed as ``head`` says.
    head: what the outputs mean (:mod:`attriflow.models.heads`): 'multiclass' (default; logit k),
        'binary' (one logit z: class 1 explains z, class 0 explains -z), 'multilabel' (label k),
        'zones' (index 4 * zone + class; target None refused), 'regression' (output k).
    method: a registered name (``list_methods()``, ``attriflow methods``); ``params`` are its
        documented parameters.
    reduce: 'sum' (default), 'mean' or 'max_abs' (signed value of largest magnitude) over
        channels -> (N, H, W); None keeps (N, C, H, W), C = 1 for spatial methods (CAM, FullGrad).
    absolute: take absolute values before the reduction (signs are kept by default).
    """
    spec = get_method(method)
    head = check_head(head)
    resolved, batch_size = _method_parameters(spec, params)
    if reduce not in REDUCTIONS:
        raise UserError(f"reduce={reduce!r} is not valid; valid: {', '.join(map(repr, REDUCTIONS))}")
    if not isinstance(absolute, bool):
        raise UserError(f"absolute must be True or False, got {absolute!r}")
    xw = _model_input(model, x)
    rows_per_pass = batch_size or resolved.get("batch_size")
    t = resolve_target(model, xw, target, rows_per_pass, head=head)
    with ScoreHead(model, head), torch.enable_grad(), input_errors(x):
        if spec.chunk and batch_size and batch_size < len(xw):
            raw = torch.cat([
                spec.call(model, xw[i : i + batch_size], t[i : i + batch_size], resolved)
                for i in range(0, len(xw), batch_size)
            ])
        else:
            raw = spec.call(model, xw, t, resolved)
    check_finite(raw, f"{method} maps")
    return reduce_channels(raw.detach(), reduce, absolute).to(device=x.device, dtype=x.dtype)


def attribute_with_predictions(
    model: nn.Module, x: Tensor, target: TargetLike, method: str, *, head: str = "multiclass", **params: Any
) -> AttributionRecord:
    """``attribute`` plus the model's raw outputs (logits), the explained classes (indexed as
    ``head`` says) and every parameter used (defaults and ``head`` filled in), ready for
    ``save_attributions``; one extra forward pass without gradients."""
    used = parameters_used(method, head=head, **params)
    xw = _model_input(model, x)
    with input_errors(x):
        logits = predict(model, xw, used["batch_size"])
    check_finite(logits, "the model's outputs")
    t = as_target_tensor(target, len(xw), xw.device)
    t = predicted(head, logits) if t is None else t
    maps = attribute(model, x, t, method, head=head, **params)
    return AttributionRecord(
        maps=maps, targets=t.to(x.device), logits=logits.to(x.device), method=method, params=used,
    )


def parameters_used(method: str, **params: Any) -> dict[str, Any]:
    """Every parameter ``attribute(..., method, **params)`` runs with, defaults filled in (for records)."""
    spec = get_method(method)
    given = dict(params)
    common = {"reduce": given.pop("reduce", "sum"), "absolute": given.pop("absolute", False),
              "head": check_head(given.pop("head", "multiclass"))}
    resolved, batch_size = _method_parameters(spec, given)
    return {"batch_size": batch_size, **resolved, **common}


def _method_parameters(spec, params: dict[str, Any]) -> tuple[dict[str, Any], int | None]:
    """The method's validated parameters and the image chunk size attribute() applies itself (or None)."""
    params = dict(params)
    batch_size = None if spec.batches_itself else check_batch_size(params.pop("batch_size", None))
    return spec.resolve(params), batch_size


def resolve_target(model: nn.Module, x: Tensor, target: TargetLike, batch_size: int | None = None,
                   head: str = "multiclass") -> Tensor:
    """``target`` as a (N,) long tensor on x's device; None becomes the predicted class of ``head``."""
    t = as_target_tensor(target, len(x), x.device)
    if t is None:
        with input_errors(x):
            logits = predict(model, x, batch_size)
        check_finite(logits, "the model's outputs")
        t = predicted(head, logits)
    return t


@contextlib.contextmanager
def input_errors(x: Tensor):
    """Turn a shape error inside the model (images of a size or channel count it cannot take) into a
    UserError naming the images' shape."""
    try:
        yield
    except RuntimeError as exc:
        text = str(exc)
        if any(word in text for word in ("shape", "size", "channels", "dimension")):
            raise UserError(f"the model cannot run on images of shape {tuple(x.shape)} (N, C, H, W): {text.splitlines()[0]}; "
                            "give images of the size and channel count it was trained on") from exc
        raise


def check_finite(values: Tensor, what: str) -> None:
    """A UserError naming the first images whose ``values`` hold NaN or infinity."""
    bad = ~torch.isfinite(values.detach().reshape(len(values), -1)).all(1)
    if bool(bad.any()):
        rows = bad.nonzero()[:, 0].tolist()
        raise UserError(f"{what} are not finite (NaN or infinity) for {len(rows)} of {len(values)} images "
                        f"(first: {rows[:5]}); the model's weights or the images are broken")


def reduce_channels(maps: Tensor, reduce: str | None, absolute: bool = False) -> Tensor:
    """Apply ``absolute`` then the channel ``reduce`` of :func:`attribute` to (N, C, H, W) maps."""
    if absolute:
        maps = maps.abs()
    if reduce is None:
        return maps
    if reduce == "sum":
        return maps.sum(dim=1)
    if reduce == "mean":
        return maps.mean(dim=1)
    if reduce == "max_abs":
        return maps.gather(1, maps.abs().argmax(dim=1, keepdim=True)).squeeze(1)
    raise UserError(f"reduce={reduce!r} is not valid; valid: {', '.join(map(repr, REDUCTIONS))}")


def _model_input(model: nn.Module, x: Any) -> Tensor:
    if not isinstance(model, nn.Module):
        raise UserError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(x, Tensor):
        raise UserError(f"x must be a (N, C, H, W) float tensor, got {type(x).__name__}")
    if x.ndim != 4:
        raise UserError(f"x must be a 4-D (N, C, H, W) tensor, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise UserError(f"x must be a floating-point tensor, got dtype {x.dtype}")
    if len(x) == 0:
        raise UserError("x holds no images (N = 0)")
    if model.training:
        warnings.warn(
            "the model is in training mode: BatchNorm and Dropout make attributions batch-dependent and the "
            "forward passes update running statistics; call model.eval() first",
            stacklevel=3,
        )
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    if conv is not None and x.shape[1] != conv.in_channels:
        raise UserError(f"x has {x.shape[1]} channels, but the model's first convolution takes {conv.in_channels}; "
                        "give images with the channel count the model was trained on")
    ref = next(model.parameters(), None)
    if ref is None:
        ref = next(model.buffers(), None)
    if ref is None:
        return x.detach()
    dtype = ref.dtype if ref.is_floating_point() else x.dtype
    return x.detach().to(device=ref.device, dtype=dtype)
