"""Opt-in fast evaluation (``fast=True``): BatchNorm folded into convolutions, channels_last.

The caller's model is not touched: :func:`fast_copy` builds a structural copy that shares every
tensor it does not change, folds each eval-mode BatchNorm whose input is exactly one
convolution's output (found by a hooked forward on one example; plain BatchNorm only, not subclasses
with a fused activation such as timm's BatchNormAct2d) into that convolution, and stores
convolution weights channels_last. Results differ from the exact ones by rounding (about 1e-5
relative on ResNets, up to ~1e-2 on VGG SmoothGrad on our CPU), so :class:`FastOrExact` measures
the relative difference on the first rows against the exact model, reports it as a
:class:`FastModeWarning` and falls back to exact evaluation when it exceeds ``FALLBACK``.
The copy is kept per model (weakly) and rebuilt when any of the model's tensors was replaced or
changed in place (tensor version counters), its module count or the input shape changed.
"""

from __future__ import annotations

import copy
import itertools
import warnings
import weakref
from typing import Callable

import torch
from torch import Tensor, nn

FALLBACK = 0.05  # relative difference above which fast mode is abandoned for the exact model
CHECK_ROWS = 2  # rows of the first chunk evaluated both ways


class FastModeWarning(UserWarning):
    """Reports the measured relative difference of fast mode from the exact result."""

    def __init__(self, message: str, relative_difference: float):
        super().__init__(message)
        self.relative_difference = relative_difference


def fast_copy(model: nn.Module, example: Tensor) -> nn.Module:
    """A copy of ``model`` with BatchNorm folded into preceding convolutions and channels_last weights.

    Unchanged parameters and buffers are shared with ``model`` (read only); the copy has no hooks.
    """
    pairs = _conv_bn_pairs(model, example)
    memo: dict[int, object] = {id(t): t for t in itertools.chain(model.parameters(), model.buffers())}
    for module in model.modules():
        for key, value in module.__dict__.items():
            if "hook" in key and isinstance(value, dict):
                memo[id(value)] = type(value)()
    clone = copy.deepcopy(model, memo)
    for conv_name, bn_name in pairs:
        conv, bn = clone.get_submodule(conv_name), clone.get_submodule(bn_name)
        _fold(conv, bn)
        parent_name, _, child = bn_name.rpartition(".")
        setattr(clone.get_submodule(parent_name) if parent_name else clone, child, nn.Identity())
    for module in clone.modules():
        if isinstance(module, nn.Conv2d):
            w = module.weight.detach().contiguous(memory_format=torch.channels_last)
            module.weight = nn.Parameter(w, requires_grad=False)
    return clone


@torch.no_grad()
def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    scale = torch.rsqrt(bn.running_var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    shift = bn.bias if bn.bias is not None else torch.zeros_like(bn.running_mean)
    conv.weight = nn.Parameter(conv.weight * scale.view(-1, 1, 1, 1), requires_grad=False)
    conv.bias = nn.Parameter((bias - bn.running_mean) * scale + shift, requires_grad=False)


@torch.no_grad()
def _conv_bn_pairs(model: nn.Module, example: Tensor) -> list[tuple[str, str]]:
    """(conv, batchnorm) names where the BatchNorm's input is exactly that convolution's output,
    no other module reads that output and the BatchNorm is in eval mode with running statistics."""
    produced: dict[int, str] = {}
    consumers: dict[int, list[str]] = {}
    keep: list[Tensor] = []  # keeps tensors alive so ids stay unique during the pass
    handles = []

    def record(name):
        def hook(module, inputs, output):
            for t in inputs:
                if isinstance(t, Tensor):
                    consumers.setdefault(id(t), []).append(name)
                    keep.append(t)
            if isinstance(module, nn.Conv2d) and isinstance(output, Tensor):
                produced[id(output)] = name
                keep.append(output)
        return hook

    try:
        for name, module in model.named_modules():
            if not list(module.children()):
                handles.append(module.register_forward_hook(record(name)))
        model(example)
    finally:
        for h in handles:
            h.remove()
    modules = dict(model.named_modules())
    pairs = []
    for tid, conv_name in produced.items():
        readers = consumers.get(tid, [])
        if len(readers) != 1:
            continue
        bn = modules[readers[0]]
        conv = modules[conv_name]
        if (
            isinstance(bn, nn.BatchNorm2d) and type(bn).forward is nn.BatchNorm2d.forward  # no fused activation
            and not bn.training and bn.running_mean is not None and bn.num_features == conv.out_channels
        ):
            pairs.append((conv_name, readers[0]))
    return pairs


_CACHE: "weakref.WeakKeyDictionary[nn.Module, tuple]" = weakref.WeakKeyDictionary()


def cached_fast_copy(model: nn.Module, example: Tensor) -> nn.Module:
    """:func:`fast_copy`, reused while the model's tensors and structure are unchanged."""
    tensors = list(itertools.chain(model.parameters(), model.buffers()))
    key = (
        tuple(example.shape[1:]), example.dtype, example.device, sum(1 for _ in model.modules()),
        tuple((t.data_ptr(), t._version, t.dtype) for t in tensors),
        tuple(m.training for m in model.modules()),
    )
    hit = _CACHE.get(model)
    if hit is not None and hit[0] == key:
        return hit[1]
    clone = fast_copy(model, example)
    _CACHE[model] = (key, clone)
    return clone


class FastOrExact:
    """Evaluate ``fn(model, rows, targets)`` exactly, or on the fast copy with a checked first chunk."""

    def __init__(self, model: nn.Module, fn: Callable[[nn.Module, Tensor, Tensor], Tensor], fast: bool, label: str):
        self.model, self.fn, self.fast, self.label = model, fn, fast, label
        self.fast_model: nn.Module | None = None
        self.relative_difference: float | None = None

    def __call__(self, rows: Tensor, targets: Tensor) -> Tensor:
        if not self.fast:
            return self.fn(self.model, rows, targets)
        if self.fast_model is None:
            self.fast_model = cached_fast_copy(self.model, rows[:1])
        out = self.fn(self.fast_model, rows.contiguous(memory_format=torch.channels_last), targets)
        if self.relative_difference is None:
            m = min(len(rows), CHECK_ROWS)
            exact = self.fn(self.model, rows[:m], targets[:m])
            diff = (out[:m] - exact).norm() / exact.norm().clamp_min(torch.finfo(exact.dtype).tiny)
            self.relative_difference = float(diff)
            if self.relative_difference > FALLBACK:
                warnings.warn(FastModeWarning(
                    f"{self.label}: fast=True deviates by {self.relative_difference:.2e} (relative) from the exact "
                    f"result on the first {m} rows; falling back to exact evaluation",
                    self.relative_difference,
                ), stacklevel=2)
                self.fast = False
                return self.fn(self.model, rows, targets)
            warnings.warn(FastModeWarning(
                f"{self.label}: fast=True relative difference from the exact result on the first {m} rows: "
                f"{self.relative_difference:.2e}",
                self.relative_difference,
            ), stacklevel=2)
        return out
