"""Models and probe sets whose concept units are known by construction."""

from __future__ import annotations

import pytest
import torch
from torch import nn

SIZE = 64


def shapes_probe(n: int, seed: int = 0):
    """Images (n, 2, 64, 64) with a disc (channel 0) and a square (channel 1) at random places,
    plus noise; masks (n, 2, 64, 64) bool of the disc and the square; each image has either or both."""
    g = torch.Generator().manual_seed(seed)
    v, u = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
    images = torch.rand(n, 2, SIZE, SIZE, generator=g) * 0.2
    masks = torch.zeros(n, 2, SIZE, SIZE, dtype=torch.bool)
    kinds = torch.randint(0, 3, (n,), generator=g)  # 0 disc, 1 square, 2 both
    for i in range(n):
        cy, cx = torch.randint(12, SIZE - 12, (2,), generator=g).tolist()
        if kinds[i] in (0, 2):
            masks[i, 0] = (v - cy) ** 2 + (u - cx) ** 2 <= 8**2
        sy, sx = torch.randint(4, SIZE - 20, (2,), generator=g).tolist()
        if kinds[i] in (1, 2):
            masks[i, 1, sy:sy + 16, sx:sx + 16] = True
    images = images + masks.float()
    return images, masks


class PlantedNet(nn.Module):
    """``features``: a 1x1 conv with planted weights, then 8x8 average pooling to 8x8 maps:
    unit 0 = disc channel, unit 1 = square channel, unit 2 = minus the disc, unit 3 = a constant.
    Head: global average pooling and a linear layer (weights ``head_weights``)."""

    def __init__(self, head_weights=(2.0, 0.5, 1.0, 0.0)):
        super().__init__()
        conv = nn.Conv2d(2, 4, 1)
        with torch.no_grad():
            conv.weight.zero_()
            conv.bias.zero_()
            conv.weight[0, 0] = 1.0
            conv.weight[1, 1] = 1.0
            conv.weight[2, 0] = -1.0
            conv.bias[3] = 0.3
        self.features = nn.Sequential(conv, nn.AvgPool2d(8))
        self.head = nn.Linear(4, 1)
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor([head_weights]))
            self.head.bias.zero_()

    def forward(self, x):
        return self.head(self.features(x).mean(dim=(2, 3)))


class Passthrough(nn.Module):
    """The images are the activations: ``features`` is the identity, so a test sets them directly."""

    def __init__(self):
        super().__init__()
        self.features = nn.Identity()
        self.head = nn.Linear(1, 1)

    def forward(self, x):
        return self.head(self.features(x).mean(dim=(1, 2, 3))[:, None])


@pytest.fixture
def planted():
    return PlantedNet().eval()
