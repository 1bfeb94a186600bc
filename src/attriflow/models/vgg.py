"""VGG-layout networks (small VGG, narrow VGG16, the MKD cloner) and their max-pool stage outputs.

Every layout is a list of conv widths and ``"M"`` (2x2 max-pool), read like torchvision's VGG
configs, and ``features`` is laid out like torchvision's: conv, [BatchNorm], ReLU per width and a
MaxPool2d per ``"M"``. Without BatchNorm the indices of ``features`` are torchvision's (VGG16:
max-pools at 4, 9, 16, 23, 30). Each ReLU is its own non-inplace module.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from attriflow.errors import UserError

LAYOUTS: dict[str, list[int | str]] = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
}


def cloner_layout(stage_widths: Sequence[int] = (64, 128, 256, 512, 512), inner: int = 16) -> list[int | str]:
    """The MKD cloner's layout: VGG16's conv counts, every conv ``inner`` wide except the last of
    stages 2..5, which matches the expert's stage width so its output can be distilled.

    With the defaults this is the authors' ``16,16 | 16,128 | 16,16,256 | 16,16,512 | 16,16,512``.
    """
    counts = [2, 2, 3, 3, 3]
    if len(stage_widths) != len(counts):
        raise UserError(f"cloner stage_widths needs {len(counts)} values (one per VGG16 stage), got {list(stage_widths)}")
    layout: list[int | str] = []
    for stage, (n, width) in enumerate(zip(counts, stage_widths), start=1):
        last = inner if stage == 1 else int(width)
        layout += [inner] * (n - 1) + [last, "M"]
    return layout


def scaled(layout: Sequence[int | str], width: float) -> list[int | str]:
    """``layout`` with every conv width multiplied by ``width`` (at least 1 channel)."""
    return [v if v == "M" else max(1, int(round(v * width))) for v in layout]


class VGG(nn.Module):
    """A VGG-layout network: ``features`` (convs and max-pools), global average pool, ``classifier``.

    ``batch_norm`` adds BatchNorm after each conv; ``bn_before_pool=False`` leaves it out on the
    conv right before each max-pool (the MKD cloner's code); ``bias`` toggles conv biases.
    ``classifier`` is Linear(C, hidden), ReLU, Linear(hidden, num_classes); ``num_classes=0``
    makes it the identity, so the model returns pooled features (timm's convention).
    """

    def __init__(self, layout: Sequence[int | str], num_classes: int = 1000, in_chans: int = 3,
                 batch_norm: bool = True, bias: bool = True, bn_before_pool: bool = True, hidden: int | None = None):
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_chans
        for i, v in enumerate(layout):
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                continue
            layers.append(nn.Conv2d(channels, int(v), kernel_size=3, padding=1, bias=bias))
            before_pool = i + 1 < len(layout) and layout[i + 1] == "M"
            if batch_norm and (bn_before_pool or not before_pool):
                layers.append(nn.BatchNorm2d(int(v)))
            layers.append(nn.ReLU())
            channels = int(v)
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.num_features = channels
        hidden = hidden or channels
        if num_classes > 0:
            self.classifier = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))
        else:
            self.classifier = nn.Identity()
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def _init_weights(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def without_pools(layout: Sequence[int | str], drop: Sequence[int]) -> list[int | str]:
    """``layout`` without the max-pools numbered in ``drop`` (1-based, in layout order)."""
    pools = [i for i, v in enumerate(layout) if v == "M"]
    if any(not 1 <= int(d) <= len(pools) for d in drop):
        raise UserError(f"drop_pools {list(drop)} out of range: the layout has {len(pools)} max-pools (1..{len(pools)})")
    gone = {pools[int(d) - 1] for d in drop}
    return [v for i, v in enumerate(layout) if i not in gone]


def small_vgg(num_classes: int = 1000, in_chans: int = 3, width: float = 0.125, batch_norm: bool = True,
              drop_pools: Sequence[int] = ()) -> VGG:
    """VGG11 layout with widths scaled by ``width`` (default /8: 8..64 channels), BatchNorm, without the
    max-pools numbered in ``drop_pools`` (1-based; the demo runs drop the 4th, so the last convolution
    sees 8x8 positions at 64 px, like VGG16's conv5_3 14x14 at 224 px)."""
    return VGG(without_pools(scaled(LAYOUTS["vgg11"], width), drop_pools), num_classes, in_chans, batch_norm=batch_norm)


def vgg16_narrow(num_classes: int = 1000, in_chans: int = 3, width: float = 0.125, batch_norm: bool = True) -> VGG:
    """VGG16 layout with widths scaled by ``width`` (default /8: 8..64 channels): the MKD expert at demo scale."""
    return VGG(scaled(LAYOUTS["vgg16"], width), num_classes, in_chans, batch_norm=batch_norm)


def mkd_cloner(num_classes: int = 0, in_chans: int = 3, width: float = 1.0, inner: int | None = None) -> VGG:
    """The MKD cloner for a VGG16-layout expert of the same ``width`` (1.0 = torchvision VGG16).

    Stage outputs 2..5 have the expert's widths (128, 256, 512, 512 times ``width``); all other
    convs are ``inner`` wide (default 16 at width 1, ``max(8, 16 * width)`` otherwise). BatchNorm,
    no conv bias, no BatchNorm on the conv before a max-pool, as in the authors' code; about
    0.34M parameters at width 1.
    """
    stage_widths = [w for w in scaled(LAYOUTS["vgg16"], width) if w != "M"]
    stage_widths = [stage_widths[i] for i in (1, 3, 6, 9, 12)]
    inner = inner if inner is not None else (16 if width == 1.0 else max(8, int(round(16 * width))))
    return VGG(cloner_layout(stage_widths, inner), num_classes, in_chans, batch_norm=True, bias=False, bn_before_pool=False)


def pool_indices(model: nn.Module) -> list[int]:
    """Indices of the MaxPool2d layers in ``model.features`` (torchvision VGG16: 4, 9, 16, 23, 30)."""
    features = getattr(model, "features", None)
    if not isinstance(features, nn.Sequential):
        raise UserError(f"{type(model).__name__} has no `features` Sequential; stage outputs need a VGG-layout model")
    return [i for i, m in enumerate(features) if isinstance(m, nn.MaxPool2d)]


def stage_outputs(model: nn.Module, x: torch.Tensor, stages: Sequence[int] = (2, 3, 4, 5)) -> list[torch.Tensor]:
    """The activations after the given max-pool stages (1-based) of a VGG-layout model.

    For torchvision VGG16 and the default stages these are ``features[9]``, ``[16]``, ``[23]``,
    ``[30]``, the four layers MKD distils; the same call works for the narrow expert and the
    cloner. Runs ``features`` only as far as the deepest stage asked for.
    """
    pools = pool_indices(model)
    if not stages or min(stages) < 1 or max(stages) > len(pools):
        raise UserError(f"stages {list(stages)} out of range: {type(model).__name__} has {len(pools)} max-pool stages (1..{len(pools)})")
    wanted = {pools[s - 1]: s for s in stages}
    found: dict[int, torch.Tensor] = {}
    for i, layer in enumerate(model.features[: max(wanted) + 1]):
        x = layer(x)
        if i in wanted:
            found[wanted[i]] = x
    return [found[s] for s in stages]
