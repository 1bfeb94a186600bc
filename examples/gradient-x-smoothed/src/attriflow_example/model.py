"""A tiny CNN as a model plug-in: attriflow builds it by name (``model: tiny_cnn``) like its own."""

from __future__ import annotations

from torch import nn


def tiny_cnn(num_classes: int = 10, in_chans: int = 3, width: int = 16) -> nn.Module:
    """Two conv blocks and a linear head; ``features`` is its last feature map (for CAM methods)."""
    model = nn.Sequential()
    model.add_module("features", nn.Sequential(
        nn.Conv2d(in_chans, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
    ))
    model.add_module("pool", nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()))
    model.add_module("fc", nn.Linear(2 * width, num_classes))
    return model
