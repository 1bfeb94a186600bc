"""Small constructed anomaly problems: a random frozen narrow VGG16 expert and flat-grey normal images."""

from __future__ import annotations

import pytest
import torch

from attriflow.anomaly.expert import freeze
from attriflow.models.vgg import vgg16_narrow

SIZE = 32



@pytest.fixture(scope="module")
def expert():
    torch.manual_seed(0)
    return freeze(vgg16_narrow(num_classes=10, width=0.125))


def flat(n: int, seed: int) -> torch.Tensor:
    """Normal images: one grey level per image in [0.3, 0.7] plus faint pixel noise."""
    g = torch.Generator().manual_seed(seed)
    level = 0.3 + 0.4 * torch.rand(n, 1, 1, 1, generator=g)
    return (level + 0.02 * torch.randn(n, 3, SIZE, SIZE, generator=g)).clamp(0, 1)


def with_patch(images: torch.Tensor, seed: int, y: int = 8, x: int = 18, size: int = 6) -> torch.Tensor:
    """``images`` with a square of strong noise at rows y..y+size, cols x..x+size (the planted defect)."""
    g = torch.Generator().manual_seed(seed)
    out = images.clone()
    out[:, :, y : y + size, x : x + size] = torch.rand(len(images), 3, size, size, generator=g)
    return out
