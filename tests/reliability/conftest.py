"""Small seeded models with every head kind, shared by the reliability tests."""

from __future__ import annotations

import torch
from torch import nn

# head kind -> number of model outputs
WIDTHS = {"multiclass": 4, "binary": 1, "multilabel": 4, "regression": 1, "zones": 6 * 4}



class Net(nn.Module):
    """conv-ReLU, conv-ReLU, pooling, linear: enough depth for every method and two randomisation blocks."""

    def __init__(self, outputs: int, channels: int = 3):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 6, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(6, 6, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.fc = nn.Linear(24, outputs)

    def forward(self, x):
        x = self.relu2(self.conv2(self.relu1(self.conv1(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


def net(head: str, seed: int = 0, channels: int = 3) -> nn.Module:
    torch.manual_seed(seed)
    return Net(WIDTHS[head], channels).eval()


def images(n: int = 6, channels: int = 3, size: int = 12, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(seed))
