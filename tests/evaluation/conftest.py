"""Small seeded models and two explainers of our own: the plain input gradient and a
model-independent edge detector (Sobel magnitude of the image)."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn



def gradient(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """d logit_target / d x, summed over channels."""
    x = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(model(x).gather(1, target[:, None]).sum(), x)
    return g.sum(1)


def edges(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Sobel gradient magnitude of the channel mean: ignores the model and the target."""
    kx = torch.tensor([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=x.dtype)
    k = torch.stack([kx, kx.T])[:, None]
    g = F.conv2d(x.mean(1, keepdim=True), k, padding=1)
    return g.pow(2).sum(1).sqrt()


class TinyCNN(nn.Module):
    """conv-BN-ReLU, conv-ReLU, pooling, linear: three randomisation blocks."""

    def __init__(self, classes: int = 5, channels: int = 3):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.fc = nn.Linear(8 * 16, classes)

    def forward(self, x):
        x = self.relu1(self.bn1(self.conv1(x)))
        x = self.relu2(self.conv2(x))
        return self.fc(torch.flatten(self.pool(x), 1))


def tiny_cnn(seed: int = 0, classes: int = 5, channels: int = 3) -> nn.Module:
    torch.manual_seed(seed)
    model = TinyCNN(classes, channels)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        model.bn1.running_mean.copy_(0.1 * torch.randn(8, generator=g))
        model.bn1.running_var.copy_(0.5 + torch.rand(8, generator=g))
    return model.eval()


def linear_model(weight: torch.Tensor, bias: torch.Tensor | None = None) -> nn.Module:
    """logits = weight . x + bias for (C, H, W) inputs; weight is (classes, C, H, W)."""
    classes = weight.shape[0]
    lin = nn.Linear(weight[0].numel(), classes)
    with torch.no_grad():
        lin.weight.copy_(weight.reshape(classes, -1))
        lin.bias.copy_(torch.zeros(classes) if bias is None else bias)
    return nn.Sequential(nn.Flatten(), lin).eval()


def images(n: int = 4, channels: int = 3, size: int = 16, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(seed))


def quiet_quantus():
    """Import quantus with its parameterisation warnings silenced (skips the test without it)."""
    quantus = pytest.importorskip("quantus")
    warnings.filterwarnings("ignore", module="quantus")
    return quantus


def state_of(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_state_equal(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    now = model.state_dict()
    assert now.keys() == state.keys()
    for k, v in state.items():
        assert torch.equal(now[k], v), f"{k} changed"
