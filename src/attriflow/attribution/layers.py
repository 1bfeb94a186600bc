"""Layers by dotted name, and the default feature-map layer of an architecture (CAM methods).

Default layer, in this order:
1. timm models: the last entry of ``model.feature_info`` (timm's own final feature stage);
2. torchvision ResNet: ``layer4``; DenseNet: ``features`` (its output after ``norm5``; DenseNet's
   forward applies ``F.relu`` afterwards, so the CAM is of the pre-ReLU features, and the gradient
   passes through that ReLU);
3. VGG-like models (torchvision's VGG, ours, anything whose ``features`` is a Sequential of
   convolutions that ends with a pooling layer): the last convolution's rectified output, the
   last ReLU module in ``features`` (VGG16: ``features.29``, conv5_3 after its ReLU, 14x14 at
   224 px, the layer the GradCAM paper explains), not ``features`` itself, whose output is after
   the final max-pool (7x7 at 224 px, 1x1 for a 48 px input);
4. any other model: one hooked forward of one example; the last module to finish whose output is
   a 4-D feature map with more than one position, which is called once and is not a pooling layer
   (the outermost of modules sharing that output, e.g. a stage rather than its last block).
   The answer is remembered per model, input shape and module count.
"""

from __future__ import annotations

import sys
import weakref

import torch
from torch import Tensor, nn

from attriflow.errors import UserError

_POOLING = (
    nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.LPPool2d, nn.FractionalMaxPool2d,
)


def resolve_layer(model: nn.Module, name: str) -> nn.Module:
    """The submodule at dotted path ``name``; a UserError lists candidate names otherwise."""
    if not isinstance(name, str) or not name:
        raise UserError(f"layer must be a dotted module path, got {name!r}; candidates: {_candidates(model)}")
    try:
        return model.get_submodule(name)
    except AttributeError:
        raise UserError(f"unknown layer {name!r}; candidates: {_candidates(model)}") from None


def _candidates(model: nn.Module, limit: int = 40) -> str:
    names = [n for n, _ in model.named_modules() if n]
    if len(names) > limit:
        names = [n for n in names if n.count(".") <= 1][:limit] + ["..."]
    return ", ".join(names)


def default_layer(model: nn.Module, example: Tensor | None = None) -> str:
    """The dotted name of the feature map a CAM explains by default for ``model``."""
    info = getattr(model, "feature_info", None)
    if info is not None:
        try:
            name = info[-1]["module"]
            model.get_submodule(name)
            return name
        except (TypeError, KeyError, IndexError, AttributeError):
            pass
    tv = sys.modules.get("torchvision.models")  # not imported: the model is no torchvision class (saves its import)
    DenseNet, ResNet, VGG = (tv.DenseNet, tv.ResNet, tv.VGG) if tv else ((), (), ())
    if isinstance(model, ResNet):
        return "layer4"
    rectified = _last_rectified_conv(model)
    if rectified is not None:
        return rectified
    if isinstance(model, DenseNet):
        return "features"
    if isinstance(model, VGG):
        raise UserError(f"VGG model without a ReLU module in `features`; give layer=... ({_candidates(model)})")
    if example is None:
        raise UserError(f"no default layer rule for {type(model).__name__}; give layer=... ({_candidates(model)})")
    key = (tuple(example.shape[1:]), sum(1 for _ in model.modules()))
    known = _DISCOVERED.setdefault(model, {})
    if key not in known:
        known[key] = _discover(model, example[:1])
    return known[key]


def _last_rectified_conv(model: nn.Module) -> str | None:
    """``features.<i>`` of the last ReLU module in a VGG-like ``features`` (see the module docstring)."""
    features = getattr(model, "features", None)
    if not isinstance(features, nn.Sequential) or not len(features) or not isinstance(features[-1], _POOLING):
        return None
    children = list(features.named_children())
    if not any(isinstance(m, nn.Conv2d) for _, m in children):
        return None
    relus = [name for name, m in children if isinstance(m, nn.ReLU)]
    return f"features.{relus[-1]}" if relus else None


_DISCOVERED: "weakref.WeakKeyDictionary[nn.Module, dict]" = weakref.WeakKeyDictionary()


@torch.no_grad()
def _discover(model: nn.Module, example: Tensor) -> str:
    finished: list[tuple[str, Tensor]] = []
    handles = []
    try:
        for name, module in model.named_modules():
            if name and not isinstance(module, _POOLING):
                handles.append(module.register_forward_hook(
                    lambda m, i, o, name=name: finished.append((name, o)) if isinstance(o, Tensor) else None
                ))
        model(example)
    finally:
        for h in handles:
            h.remove()
    calls: dict[str, int] = {}
    for n, _ in finished:
        calls[n] = calls.get(n, 0) + 1
    maps = [(n, o) for n, o in finished if o.ndim == 4 and calls[n] == 1]
    wide = [(n, o) for n, o in maps if o.shape[-1] * o.shape[-2] > 1]
    chosen = wide or maps
    if not chosen:
        raise UserError(f"{type(model).__name__} has no module with a 4-D output; give layer=...")
    return chosen[-1][0]
