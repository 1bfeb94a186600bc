"""Small residual networks of BasicBlocks: ResNet8 (the ROAR network) and a narrow ResNet18 layout.

Module names follow torchvision (``conv1``, ``bn1``, ``layer1``.., ``fc``) so layer paths like
``layer3`` mean the same thing; unlike torchvision every ReLU is its own non-inplace module
(``relu1`` inside the block, ``relu2`` after the residual addition), so per-module ReLU hooks
see each activation once.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from attriflow.errors import UserError

STEMS = ("cifar", "small", "imagenet")


class BasicBlock(nn.Module):
    """Two 3x3 convs with BatchNorm and a residual connection (1x1 conv projection when the shape changes)."""

    def __init__(self, in_channels: int, channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.downsample = None
        if stride != 1 or in_channels != channels:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False), nn.BatchNorm2d(channels))
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + identity)


class ResNet(nn.Module):
    """Stem, stages of BasicBlocks (the first stage keeps the resolution, the others halve it),
    global average pool, ``fc``.

    ``stem``: ``cifar`` (3x3 conv, stride 1), ``small`` (3x3 conv, stride 2) or ``imagenet``
    (7x7 conv stride 2 and a 3x3 max-pool, as torchvision). ``strides``: the stride of each stage's
    first block (default 1 for the first stage, 2 for the others; a 1 keeps that stage at the
    resolution of the one before, e.g. a last stage with at least 7x7 positions for CAMs on small
    inputs). ``num_classes=0`` returns pooled features.
    """

    def __init__(self, widths: Sequence[int], blocks: Sequence[int], num_classes: int = 1000, in_chans: int = 3, stem: str = "cifar",
                 strides: Sequence[int] | None = None):
        super().__init__()
        if stem not in STEMS:
            raise UserError(f"ResNet stem {stem!r} is not one of {STEMS}")
        if len(widths) != len(blocks) or not widths:
            raise UserError(f"ResNet needs one block count per stage width, got widths={list(widths)} blocks={list(blocks)}")
        strides = [1] + [2] * (len(widths) - 1) if strides is None else [int(s) for s in strides]
        if len(strides) != len(widths) or any(s not in (1, 2) for s in strides):
            raise UserError(f"ResNet strides needs one value of 1 or 2 per stage ({len(widths)}), got {list(strides)}")
        big = stem == "imagenet"
        self.conv1 = nn.Conv2d(in_chans, widths[0], 7 if big else 3, stride=1 if stem == "cifar" else 2, padding=3 if big else 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1) if big else nn.Identity()
        channels = widths[0]
        for i, (width, n) in enumerate(zip(widths, blocks), start=1):
            stage = [BasicBlock(channels if j == 0 else width, width, stride=(strides[i - 1] if j == 0 else 1)) for j in range(n)]
            self.add_module(f"layer{i}", nn.Sequential(*stage))
            channels = width
        self.num_stages = len(widths)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.num_features = channels
        self.fc = nn.Linear(channels, num_classes) if num_classes > 0 else nn.Identity()
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(1, self.num_stages + 1):
            x = getattr(self, f"layer{i}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


def _scale(widths: Sequence[int], width: float) -> list[int]:
    return [max(1, int(round(w * width))) for w in widths]


def resnet8(num_classes: int = 10, in_chans: int = 3, width: float = 1.0) -> ResNet:
    """ResNet8 as in ROAR (Hooker et al.; RoarTorch): CIFAR stem, 3 stages of one BasicBlock, 16/32/64 channels."""
    return ResNet(_scale((16, 32, 64), width), (1, 1, 1), num_classes, in_chans, stem="cifar")


def small_resnet(num_classes: int = 1000, in_chans: int = 3, width: float = 0.25, blocks: Sequence[int] = (1, 1, 1, 1),
                 stem: str = "small", strides: Sequence[int] = (1, 2, 2, 2)) -> ResNet:
    """ResNet18's four stages with widths scaled by ``width`` (default /4: 16..128), ``blocks`` per stage
    (ResNet18: 2, 2, 2, 2) and first-block ``strides``; the ResNet50 stand-in for 64 px shapes
    (the demo runs use ``strides: [1, 2, 2, 1]``: layer4 at 8x8, like ResNet50's 7x7 at 224 px)."""
    return ResNet(_scale((64, 128, 256, 512), width), tuple(blocks), num_classes, in_chans, stem=stem, strides=strides)
