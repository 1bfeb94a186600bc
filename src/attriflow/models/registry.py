"""The model factory: one entry point for the small nets, torchvision and timm architectures.

``create_model(name, num_classes=..., in_chans=..., init=...)`` as in timm; ``list_models()``
lists the names. A plain name is one of ours, else an installed plug-in's (entry point group
``attriflow.models``, see :mod:`attriflow.plugins`), else torchvision's, else timm's; ``plugin:``,
``torchvision:`` or ``timm:`` in front picks the source explicitly.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import importlib
import inspect
import os
from dataclasses import dataclass
from typing import Any, Callable

import torch.nn as nn

from attriflow.errors import UserError
from attriflow.models.weights import (
    find_imagenet_weights, load_weights_file, resolve_init, set_input_channels, transfer_weights,
)


@dataclass(frozen=True)
class Entry:
    target: str  # "module:function" of the builder, imported on first use (torchvision only when a DenseNet is built)
    about: str

    @property
    def build(self) -> Callable[..., nn.Module]:
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)


SMALL_NETS: dict[str, Entry] = {
    "resnet8": Entry("attriflow.models.resnet:resnet8", "ROAR's ResNet8: CIFAR stem, 3 stages of 1 BasicBlock, 16/32/64 (width)"),
    "small_resnet": Entry("attriflow.models.resnet:small_resnet", "ResNet18 stages, widths /4 (width), blocks 1-1-1-1 (blocks), stride-2 stem (stem)"),
    "small_densenet": Entry("attriflow.models.densenet:small_densenet", "torchvision DenseNet, growth 12, blocks 2-2-2-2, 24 initial features (stem)"),
    "small_vgg": Entry("attriflow.models.vgg:small_vgg", "VGG11 layout, widths /8 (width), BatchNorm"),
    "vgg16_narrow": Entry("attriflow.models.vgg:vgg16_narrow", "VGG16 layout, widths /8 (width), BatchNorm (batch_norm): the MKD expert"),
    "mkd_cloner": Entry("attriflow.models.vgg:mkd_cloner", "MKD cloner: 16,16|16,128|16,16,256|16,16,512|16,16,512 at width 1, BN, no bias"),
}
SOURCES = ("attriflow", "plugin", "torchvision", "timm")


@functools.lru_cache(maxsize=1)
def torchvision_names() -> tuple[str, ...]:
    import torchvision

    return tuple(torchvision.models.list_models(module=torchvision.models))


@functools.lru_cache(maxsize=1)
def timm_names() -> tuple[str, ...]:
    import timm

    return tuple(timm.list_models())


def list_models(pattern: str = "*", timm: bool = False) -> list[str]:
    """Model names matching a shell-style ``pattern``: ours, then torchvision's; with ``timm=True``
    also every timm architecture (as ``timm:<name>``)."""
    from attriflow.plugins import model_entry_points

    names = list(SMALL_NETS) + [f"plugin:{n}" for n in model_entry_points()] + list(torchvision_names()) + ([f"timm:{n}" for n in timm_names()] if timm else [])
    return [n for n in names if fnmatch.fnmatch(n, pattern)]


def resolve_name(name: str) -> tuple[str, str]:
    """``(source, architecture)`` of a model name; an unknown name is a UserError listing the valid ones."""
    source, _, arch = name.rpartition(":")
    if source and source not in SOURCES:
        raise UserError(f"model {name!r}: prefix {source!r} is not one of {', '.join(SOURCES)}")
    if source in ("", "attriflow") and arch in SMALL_NETS:
        return "attriflow", arch
    from attriflow.plugins import model_entry_points

    plugins = model_entry_points()
    if source in ("", "plugin") and arch in plugins:
        return "plugin", arch
    if source in ("", "torchvision") and arch in torchvision_names():
        return "torchvision", arch
    if source in ("", "timm") and arch in timm_names():
        return "timm", arch
    valid = list(SMALL_NETS) + [f"plugin:{n}" for n in plugins] + list(torchvision_names())
    close = difflib.get_close_matches(arch, list(dict.fromkeys(valid + list(timm_names()))), n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise UserError(f"unknown model {name!r}.{hint} Valid names: {', '.join(valid)}; "
                    "and any timm architecture as timm:<name> (`attriflow models --timm`).")


def _build(source: str, arch: str, num_classes: int, in_chans: int, kwargs: dict[str, Any]) -> nn.Module:
    if source == "attriflow":
        build = SMALL_NETS[arch].build
        params = inspect.signature(build).parameters
        unknown = sorted(set(kwargs) - set(params))
        if unknown:
            valid = [p for p in params if p not in ("num_classes", "in_chans")]
            raise UserError(f"model {arch!r}: unknown model_kwargs {unknown}; valid: {valid}")
        return build(num_classes=num_classes, in_chans=in_chans, **kwargs)
    if source == "plugin":
        from attriflow.plugins import model_factory

        return model_factory(arch)(num_classes=num_classes, in_chans=in_chans, **kwargs)
    if source == "timm":
        import timm

        return timm.create_model(arch, pretrained=False, num_classes=num_classes, in_chans=in_chans, **kwargs)
    import torchvision

    model = torchvision.models.get_model(arch, weights=None, num_classes=max(num_classes, 1), **kwargs)
    if num_classes == 0:
        from attriflow.models.weights import head_name

        parent, _, leaf = head_name(model).rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, leaf, nn.Identity())
    return set_input_channels(model, in_chans) if in_chans != 3 else model


def create_model(name: str, num_classes: int = 1000, in_chans: int = 3, init: str = "random", *,
                 reset_head: bool | None = None, runs_dir: str | os.PathLike = "results/models",
                 weights_dir: str | os.PathLike | None = None, **kwargs: Any) -> nn.Module:
    """Build a model by name with ``num_classes`` outputs (0: pooled features) and ``in_chans`` inputs.

    ``init``: ``random``; ``imagenet`` (torchvision / timm weights found locally, see
    :func:`~attriflow.models.weights.find_imagenet_weights`; never downloaded); a weights file
    (loaded with ``weights_only=True``); or the id of an earlier run (``runs_dir/<id>/model.pt``).
    Pretrained weights keep the backbone; the head is re-initialised when ``reset_head`` is True or,
    with None, when its shape differs; the first conv adapts to ``in_chans``. ``kwargs`` go to the
    architecture (e.g. ``width`` for the small nets).
    """
    if int(num_classes) != num_classes or num_classes < 0 or int(in_chans) != in_chans or in_chans < 1:
        raise UserError(f"model {name!r}: num_classes must be >= 0 and in_chans >= 1, got {num_classes}, {in_chans}")
    source, arch = resolve_name(name)
    resolve_init(init, runs_dir)  # a bad init fails before the model is built
    model = _build(source, arch, int(num_classes), int(in_chans), dict(kwargs))
    initialise(model, name, init, reset_head=reset_head, runs_dir=runs_dir, weights_dir=weights_dir,
               headless=num_classes == 0)
    return model


def initialise(model: nn.Module, name: str, init: str, *, reset_head: bool | None = None,
               runs_dir: str | os.PathLike = "results/models", weights_dir: str | os.PathLike | None = None,
               headless: bool = False) -> dict[str, Any]:
    """Load the ``init`` weights (see :func:`create_model`) into ``model``, built as ``name``
    (``headless``: with ``num_classes=0``, its output layer removed).

    Returns what happened: ``kind`` (random, imagenet, file, run), ``path``, and the parameter
    keys ``loaded``, ``adapted`` (first conv), ``reset`` (head) and ``dropped``.
    """
    source, arch = resolve_name(name)
    kind, path = resolve_init(init, runs_dir)
    if kind == "imagenet":
        if source in ("attriflow", "plugin"):
            raise UserError(f"model {name!r} has no ImageNet weights; at demo scale 'ImageNet-like' pretraining is an "
                            "earlier run on shape scenes: set init to that run's id")
        path = find_imagenet_weights(source, arch, weights_dir)
    report: dict[str, Any] = {"kind": kind, "path": None if path is None else str(path)}
    if kind == "run":
        from attriflow.models.runs import check_model_checksum

        check_model_checksum(path)
    if path is not None:
        report.update(transfer_weights(model, load_weights_file(path), source=_describe(kind, init, path), reset_head=reset_head,
                                       headless=headless))
    return report


def _describe(kind: str, init: str, path) -> str:
    return {"file": f"init file {path}", "run": f"init run {init!r} ({path})"}.get(kind, f"ImageNet weights {path}")
