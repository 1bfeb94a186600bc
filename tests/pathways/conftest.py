"""Small seeded models for the pathway tests, and one trained on a planted task."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn



class PlainNet(nn.Module):
    """conv-ReLU x3 (separate, out-of-place ReLU modules), pooling, linear-ReLU, linear; plus one functional ReLU."""

    def __init__(self, classes: int = 4):
        super().__init__()
        self.conv1, self.relu1 = nn.Conv2d(3, 8, 3, padding=1), nn.ReLU()
        self.conv2, self.relu2 = nn.Conv2d(8, 16, 3, padding=1, stride=2), nn.ReLU()
        self.conv3 = nn.Conv2d(16, 16, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.fc1, self.relu4 = nn.Linear(16 * 16, 32), nn.ReLU()
        self.fc2 = nn.Linear(32, classes)

    def forward(self, x):
        x = self.relu2(self.conv2(self.relu1(self.conv1(x))))
        x = F.relu(self.conv3(x))  # functional: must count as a layer too
        return self.fc2(self.relu4(self.fc1(torch.flatten(self.pool(x), 1))))


def plain_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return PlainNet().eval()


def quadrant_data(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Images 3x16x16 of noise with one bright square in a quadrant; the class is the quadrant."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 4, (n,), generator=g)
    x = 0.3 * torch.rand(n, 3, 16, 16, generator=g)
    for i, c in enumerate(y.tolist()):
        r, s = divmod(c, 2)
        x[i, :, 8 * r + 2:8 * r + 6, 8 * s + 2:8 * s + 6] += 0.7
    return x, y


@pytest.fixture(scope="package")
def trained():
    """A PlainNet trained to > 90% accuracy on the quadrant task, and held-out images."""
    model = plain_net(1).train()
    x, y = quadrant_data(512, seed=1)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for epoch in range(6):
        for i in range(0, len(x), 64):
            opt.zero_grad()
            F.cross_entropy(model(x[i:i + 64]), y[i:i + 64]).backward()
            opt.step()
    model.eval()
    for p in model.parameters():
        p.grad = None
    xt, yt = quadrant_data(64, seed=2)
    with torch.no_grad():
        acc = (model(xt).argmax(1) == yt).float().mean().item()
    assert acc > 0.9, acc
    return model, xt, yt
