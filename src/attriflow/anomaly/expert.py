"""The frozen MKD expert: a VGG16-layout network, its stage outputs, and the matching cloner.

At paper scale the expert is torchvision's VGG16 with ImageNet weights (found locally, never
downloaded; see :func:`attriflow.models.weights.find_imagenet_weights`); at demo scale it is a
finished run of ours (``results/models/mkd-expert``, a narrow VGG16 pretrained on data disjoint
from every anomaly test set). Either way it is put in eval mode with every parameter frozen.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn as nn

from attriflow.errors import UserError
from attriflow.models.vgg import mkd_cloner, pool_indices

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
NORMALISE = ("none", "imagenet")


def freeze(model: nn.Module) -> nn.Module:
    """``model`` in eval mode with ``requires_grad=False`` on every parameter (returned for chaining)."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def load_expert(source: str | os.PathLike, weights_dir: str | os.PathLike | None = None) -> tuple[nn.Module, dict]:
    """The frozen expert and what it is: ``source`` is a run folder / ``model.pt`` of ours, or
    ``torchvision:vgg16`` (ImageNet weights placed locally, see ``attriflow.models.weights``).

    Returns ``(expert, info)`` with ``info = {"source", "width", "input_size"}``; ``width`` is the
    VGG16 width multiplier the cloner must be built with (1.0 for torchvision's VGG16).
    """
    text = str(source)
    if text.startswith("torchvision:"):
        from attriflow.models.registry import create_model

        arch = text.split(":", 1)[1]
        if arch != "vgg16":
            raise UserError(f"expert {text!r}: MKD's expert is VGG16; use 'torchvision:vgg16' or a run folder")
        model = create_model("vgg16", num_classes=0, init="imagenet", weights_dir=weights_dir)
        info = {"source": text, "width": 1.0, "input_size": None}
    else:
        from attriflow.models.runs import load_run

        path = Path(text)
        model, meta = load_run(path)
        spec = meta["model"]
        if spec["name"] not in ("vgg16_narrow", "vgg16", "torchvision:vgg16"):
            raise UserError(f"expert run {path}: model {spec['name']!r} is not VGG16-layout (vgg16_narrow or vgg16)")
        width = float(spec["kwargs"].get("width", 0.125 if spec["name"] == "vgg16_narrow" else 1.0))
        info = {"source": str(path), "width": width, "input_size": meta.get("input_size"),
                "trained_on": meta.get("run", {}).get("dataset")}
    if len(pool_indices(model)) != 5:
        raise UserError(f"expert {text}: expected 5 max-pool stages (VGG16), found {len(pool_indices(model))}")
    return freeze(model), info


def cloner_for(expert_info: dict, seed: int) -> nn.Module:
    """A freshly initialised cloner matching the expert's width, from ``seed`` (deterministic)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return mkd_cloner(width=float(expert_info["width"]))


def prepare(images: torch.Tensor, normalise: str = "none") -> torch.Tensor:
    """Images as the expert takes them: grey images repeated to 3 channels (as the authors' code
    does), then ``normalise`` (``none``, or ``imagenet`` mean / std for torchvision weights)."""
    if normalise not in NORMALISE:
        raise UserError(f"normalise={normalise!r} is not valid; valid: {', '.join(NORMALISE)}")
    if images.shape[1] == 1:
        images = images.repeat(1, 3, 1, 1)
    if images.shape[1] != 3:
        raise UserError(f"the expert takes 1- or 3-channel images, got {images.shape[1]} channels")
    if normalise == "imagenet":
        mean = images.new_tensor(IMAGENET_MEAN)[:, None, None]
        std = images.new_tensor(IMAGENET_STD)[:, None, None]
        images = (images - mean) / std
    return images
