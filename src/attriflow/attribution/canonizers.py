"""Canonizers for LRP (Zennit's, plus three), so BatchNorm, residual sums, global pooling and
DenseNet concatenations are right on torchvision, timm and our models.

- BatchNorm that directly follows a convolution: merged into it, in module order (Zennit's
  ``SequentialMergeBatchNorm``; needs modules registered in forward order, as torchvision, timm
  and our models do).
- DenseNet (torchvision's class and subclasses): the sequential merge would fold every dense
  layer's ``norm1`` (whose input is the concatenation of all earlier features) into the previous
  layer's ``conv2`` (and fails on the channel count); :class:`DenseNetMergeBatchNorm` merges only
  ``conv0 -> norm0`` and, in every dense layer, ``conv1 -> norm2``. Concatenations need nothing:
  their gradient splits relevance exactly.
- Every other BatchNorm2d (DenseNet's ``norm1`` after each concatenation, the transitions'
  ``norm``, ``norm5``; any BatchNorm that reads something other than a convolution):
  :class:`BatchNormAsAffine` puts an equivalent per-channel affine layer in its place for the pass,
  a grouped 1x1 convolution (:class:`ChannelAffine`) with weight gamma / sqrt(var + eps) and bias
  beta - gamma * mean / sqrt(var + eps). It gets a rule of its own (:mod:`.lrp`: Epsilon under
  LRP-epsilon) instead of Zennit's Pass rule for every BatchNorm, so LRP-epsilon keeps its exact
  relation to gradient x input (Pass ignores the BatchNorm's scale and bias: review measured
  LRP-epsilon x logit off gradient x input by ~1e6 on DenseNets). Modules that fuse
  BatchNorm with an activation (timm's BatchNormAct2d) override ``forward``: they are neither
  merged nor replaced and keep the Pass rule.
- Functional operations: :class:`FunctionalOpsCanonizer` wraps the forward of every module with
  its own forward and children (the model, its blocks). While it runs, an addition of two
  same-shape tensors written in that forward (``a + b``, ``a += b``, ``torch.add``: residual
  skips) goes through a ``Sum`` module (Zennit's normalising rule splits relevance in proportion to
  the two contributions instead of copying it to both branches), and a global average pooling
  written there (``F.adaptive_avg_pool2d(x, 1)``, ``x.mean((2, 3))``: DenseNet's head) goes
  through an ``AdaptiveAvgPool2d`` module (normalising rule instead of an even split). Only calls
  made directly in that forward are routed (found by their calling frame), at most
  ``SUMS_PER_FORWARD`` additions and one pooling per call. For torchvision ResNets this equals
  Zennit's ``ResNetCanonizer``, without per-class forwards. The shared in-place ReLU of torchvision
  blocks needs nothing: Zennit clones each hooked input, and its Pass rule per call is stateless.

One change to Zennit's merge: a merged BatchNorm gets running_var = 1 - eps instead of 1, so it is
exactly the identity (Zennit's leaves it dividing by sqrt(1 + eps), about 5e-6 per BatchNorm, so
the canonised network differed slightly from the original).
"""

from __future__ import annotations

import dis
import functools
import os
import sys

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode
from zennit.canonizers import AttributeCanonizer, Canonizer, MergeBatchNorm, NamedMergeBatchNorm, SequentialMergeBatchNorm
from zennit.layer import Sum


class _ExactIdentity:
    """Merge as Zennit, then make the emptied BatchNorm exactly the identity."""

    @staticmethod
    def merge_batch_norm(modules, batch_norm):
        MergeBatchNorm.merge_batch_norm(modules, batch_norm)
        batch_norm.running_var.data = torch.full_like(batch_norm.running_var.data, 1.0 - batch_norm.eps)


class ExactSequentialMergeBatchNorm(_ExactIdentity, SequentialMergeBatchNorm):
    """Zennit's SequentialMergeBatchNorm leaving an exact identity."""


class ExactNamedMergeBatchNorm(_ExactIdentity, NamedMergeBatchNorm):
    """Zennit's NamedMergeBatchNorm leaving an exact identity."""


_ADDS = {torch.add, Tensor.add, Tensor.__add__, Tensor.__radd__, Tensor.__iadd__, Tensor.add_}
_MEANS = {torch.mean, Tensor.mean}
_SPATIAL = ({2, 3}, {-2, -1})
_TORCH_DIR = os.path.dirname(torch.__file__) + os.sep
SUMS_PER_FORWARD = 2  # Sum modules per wrapped forward (one per residual addition it makes)


def _operation(func, args, kwargs) -> str | None:
    """'sum' for a same-shape tensor addition, 'pool' for global average pooling of a 4-D tensor."""
    try:
        if func in _ADDS:
            ok = (
                len(args) == 2 and not kwargs and all(isinstance(a, Tensor) for a in args)
                and args[0].shape == args[1].shape and args[0].is_floating_point()
                and (args[0].requires_grad or args[1].requires_grad)
            )
            return "sum" if ok else None
        if func is F.adaptive_avg_pool2d:
            size = args[1] if len(args) > 1 else kwargs.get("output_size")
            ok = isinstance(args[0], Tensor) and args[0].ndim == 4 and size in (1, (1, 1), [1, 1])
            return "pool" if ok else None
        if func in _MEANS:
            dim = args[1] if len(args) > 1 else kwargs.get("dim")
            extra = set(kwargs) - {"dim", "keepdim"}
            dims = {int(d) for d in dim} if isinstance(dim, (tuple, list)) else None
            ok = isinstance(args[0], Tensor) and args[0].ndim == 4 and dims in _SPATIAL and not extra and len(args) <= 3
            return "pool" if ok else None
    except TypeError:  # unhashable callables are neither
        return None
    return None


@functools.lru_cache(maxsize=None)
def _may_route(code) -> bool:
    """Whether a forward's bytecode contains an addition, an ``add`` / ``mean`` call or an adaptive
    average pooling (other forwards are not wrapped: a mode would only slow every op inside)."""
    for ins in dis.get_instructions(code):
        if ins.opname in ("BINARY_ADD", "INPLACE_ADD") or (ins.opname == "BINARY_OP" and ins.argrepr in ("+", "+=")):
            return True
        if ins.argval in ("add", "add_", "mean", "adaptive_avg_pool2d"):
            return True
    return False


class _FunctionalOpsMode(TorchFunctionMode):
    """While one module's forward runs, route the additions and global average poolings written
    directly in that forward (not in its children) through its canonizer modules."""

    def __init__(self, code, sums: nn.ModuleList, pool: nn.Module):
        super().__init__()
        self.code, self.sums, self.pool = code, sums, pool
        self.sums_used = 0
        self.pool_used = False

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        op = _operation(func, args, kwargs)
        if op == "sum" and self.sums_used < len(self.sums) and self._called_here():
            self.sums_used += 1
            return self.sums[self.sums_used - 1](torch.stack(args, dim=-1))
        if op == "pool" and not self.pool_used and self._called_here():
            self.pool_used = True
            out = self.pool(args[0])
            if func is F.adaptive_avg_pool2d:
                return out
            keepdim = args[2] if len(args) > 2 else kwargs.get("keepdim", False)
            return out if keepdim else out[..., 0, 0]
        return func(*args, **kwargs)

    def _called_here(self) -> bool:
        frame = sys._getframe(2)
        while frame is not None and frame.f_code.co_filename.startswith(_TORCH_DIR):
            frame = frame.f_back
        return frame is not None and frame.f_code is self.code


class FunctionalOpsCanonizer(AttributeCanonizer):
    """Residual additions and functional global average pooling as modules (see the module docstring)."""

    def __init__(self):
        super().__init__(self._attribute_map)

    @staticmethod
    def _attribute_map(name, module):
        if isinstance(module, (nn.Sequential, nn.ModuleList, nn.ModuleDict)) or not list(module.children()):
            return None
        original = module.forward
        code = getattr(getattr(original, "__func__", original), "__code__", None)
        if code is None or code.co_filename.startswith(_TORCH_DIR) or not _may_route(code):
            return None
        sums = nn.ModuleList(Sum() for _ in range(SUMS_PER_FORWARD))
        pool = nn.AdaptiveAvgPool2d((1, 1))

        def forward(*args, **kwargs):
            with _FunctionalOpsMode(code, sums, pool):
                return original(*args, **kwargs)

        return {"forward": forward, "canonizer_sums": sums, "canonizer_pool": pool}


class DenseNetMergeBatchNorm(Canonizer):
    """Merge exactly the BatchNorms of torchvision DenseNets that directly follow a convolution."""

    def apply(self, root_module: nn.Module) -> list:
        from torchvision.models.densenet import DenseNet, _DenseLayer

        name_map = []
        for name, module in root_module.named_modules():
            prefix = f"{name}." if name else ""
            if isinstance(module, DenseNet):
                name_map.append(((f"{prefix}features.conv0",), f"{prefix}features.norm0"))
            elif isinstance(module, _DenseLayer):
                name_map.append(((f"{prefix}conv1",), f"{prefix}norm2"))
        return ExactNamedMergeBatchNorm(name_map).apply(root_module) if name_map else []

    def register(self) -> None:
        """Nothing to do: the applied NamedMergeBatchNorm instances hold the changes."""

    def remove(self) -> None:
        """Nothing to do: the applied NamedMergeBatchNorm instances revert the changes."""


def _plain_batch_norm(module: nn.Module) -> bool:
    """An eval-mode BatchNorm2d with running statistics whose forward is BatchNorm's own."""
    return (
        isinstance(module, nn.BatchNorm2d) and type(module).forward is nn.BatchNorm2d.forward
        and not module.training and module.running_mean is not None
    )


class ChannelAffine(nn.Conv2d):
    """A per-channel affine map y = w_c x + b_c as a grouped 1x1 convolution: the stand-in for a
    BatchNorm during LRP (its own type, so a composite can give it a rule of its own)."""


def affine_of(batch_norm: nn.BatchNorm2d) -> ChannelAffine:
    """The grouped 1x1 convolution computing what eval-mode ``batch_norm`` computes."""
    c = batch_norm.num_features
    ref = batch_norm.running_mean
    scale = torch.rsqrt(batch_norm.running_var + batch_norm.eps)
    if batch_norm.weight is not None:
        scale = scale * batch_norm.weight
    bias = -batch_norm.running_mean * scale
    if batch_norm.bias is not None:
        bias = bias + batch_norm.bias
    conv = ChannelAffine(c, c, 1, groups=c, bias=True, device=ref.device, dtype=ref.dtype)
    with torch.no_grad():
        conv.weight.copy_(scale.detach().view(c, 1, 1, 1))
        conv.bias.copy_(bias.detach())
    return conv.eval()


class BatchNormAsAffine(Canonizer):
    """Replace every plain eval-mode BatchNorm2d not in ``skip`` by its per-channel affine layer
    (:func:`affine_of`) for the pass; ``remove`` puts the BatchNorms back."""

    def __init__(self, skip: set[int] | None = None):
        super().__init__()
        self.skip = skip or set()
        self.replaced: list[tuple[nn.Module, str, nn.Module]] = []

    def apply(self, root_module: nn.Module) -> list:
        targets = [
            (parent, name, child) for parent in root_module.modules() for name, child in parent.named_children()
            if _plain_batch_norm(child) and id(child) not in self.skip
        ]
        instance = BatchNormAsAffine(self.skip)
        for parent, name, child in targets:
            setattr(parent, name, affine_of(child))
            instance.replaced.append((parent, name, child))
        return [instance]

    def register(self) -> None:
        """Nothing to do: ``apply`` made the replacements."""

    def remove(self) -> None:
        for parent, name, child in reversed(self.replaced):
            setattr(parent, name, child)
        self.replaced = []


class BatchNormCanonizer(Canonizer):
    """Every BatchNorm of a model made LRP-ready: merged into the convolution it directly follows
    where there is one (``merge``: a sequential or DenseNet merge), a per-channel affine layer
    (:class:`BatchNormAsAffine`) everywhere else."""

    def __init__(self, merge: Canonizer):
        super().__init__()
        self.merge = merge

    def apply(self, root_module: nn.Module) -> list:
        merged = self.merge.apply(root_module)
        done = {id(i.batch_norm) for i in merged if getattr(i, "batch_norm", None) is not None}
        return merged + BatchNormAsAffine(done).apply(root_module)

    def register(self) -> None:
        """Nothing to do: the applied instances hold the changes."""

    def remove(self) -> None:
        """Nothing to do: the applied instances revert the changes."""


def canonizers_for(model: nn.Module) -> list[Canonizer]:
    """The canonizers LRP should use for ``model``'s architecture."""
    tv = sys.modules.get("torchvision.models.densenet")  # not imported: no torchvision DenseNet in the model
    merge = DenseNetMergeBatchNorm() if tv and any(isinstance(m, tv.DenseNet) for m in model.modules()) \
        else ExactSequentialMergeBatchNorm()
    return [BatchNormCanonizer(merge), FunctionalOpsCanonizer()]
