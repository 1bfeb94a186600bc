"""Small seeded models (torchvision ResNet18 with its shared in-place ReLU, a VGG-like net, a tiny
torchvision DenseNet) and an independent record of a model's state for "unchanged" checks."""

from __future__ import annotations

import copy

import pytest
import torch
import torchvision
from torch import nn



def randomize_batchnorm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm non-trivial statistics and affine terms (so effective biases are non-zero)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(0.2 * torch.randn(c, generator=g))
                m.running_var.copy_(0.5 + torch.rand(c, generator=g))
                m.weight.copy_(0.5 + torch.rand(c, generator=g))
                m.bias.copy_(0.2 * torch.randn(c, generator=g))
    return model


class SmallVGG(nn.Module):
    """VGG layout (conv-ReLU blocks, max pooling, in-place ReLUs, a two-layer classifier), few channels."""

    def __init__(self, widths=(16, "M", 32, "M", 64, 64, "M"), num_classes=10, batch_norm=False, spatial=4):
        super().__init__()
        layers, c = [], 3
        for w in widths:
            if w == "M":
                layers.append(nn.MaxPool2d(2))
                continue
            layers.append(nn.Conv2d(c, w, 3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(w))
            layers.append(nn.ReLU(inplace=True))
            c = w
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(spatial)
        self.classifier = nn.Sequential(
            nn.Linear(c * spatial * spatial, 64), nn.ReLU(inplace=True), nn.Linear(64, num_classes)
        )

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def make_resnet18(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return randomize_batchnorm(torchvision.models.resnet18(num_classes=10), seed).eval()


def make_vgg(seed: int = 0, batch_norm: bool = False) -> nn.Module:
    torch.manual_seed(seed)
    return randomize_batchnorm(SmallVGG(batch_norm=batch_norm), seed).eval()


def make_densenet(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = torchvision.models.DenseNet(growth_rate=8, block_config=(2, 2), num_init_features=16, bn_size=2,
                                        num_classes=10)
    return randomize_batchnorm(model, seed).eval()


MAKERS = {"resnet18": make_resnet18, "vgg": make_vgg, "vgg_bn": lambda seed=0: make_vgg(seed, batch_norm=True),
          "densenet": make_densenet}


@pytest.fixture(scope="module")
def resnet18():
    return make_resnet18()


@pytest.fixture(scope="module")
def vgg():
    return make_vgg()


@pytest.fixture(scope="module")
def densenet():
    return make_densenet()


def images(n=3, size=32, seed=1, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, size, size, generator=g, dtype=dtype)


def non_inplace_copy(model: nn.Module) -> nn.Module:
    """A deep copy whose ReLUs are not in place (what Captum's and Zennit's module hooks need)."""
    clone = copy.deepcopy(model)
    for m in clone.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = False
    return clone


class ModelState:
    """Everything a method must leave as it was, recorded without the library's own helpers."""

    def __init__(self, model: nn.Module):
        self.model = model
        self.record = self._record(model)

    @staticmethod
    def _record(model):
        modules = []
        for name, m in model.named_modules():
            hooks = {k: list(v.items()) for k, v in vars(m).items() if "hook" in k and isinstance(v, dict)}
            modules.append((name, m, type(m), m.training, sorted(vars(m)), hooks, list(m._modules.items())))
        tensors = [
            (name, t, t.detach().clone(), t.data_ptr(), t.requires_grad, t.grad)
            for name, t in list(model.named_parameters()) + list(model.named_buffers())
        ]
        return modules, tensors

    def assert_unchanged(self):
        modules, tensors = self._record(self.model)
        before_modules, before_tensors = self.record
        assert len(modules) == len(before_modules)
        for now, then in zip(modules, before_modules):
            assert now[0] == then[0] and now[1] is then[1] and now[2] is then[2], f"module {then[0]!r} replaced"
            assert now[3] == then[3], f"training flag of {then[0]!r} changed"
            assert now[4] == then[4], f"attributes of {then[0]!r} changed: {set(now[4]) ^ set(then[4])}"
            assert now[5] == then[5], f"hooks of {then[0]!r} changed"
            assert all(a[0] == b[0] and a[1] is b[1] for a, b in zip(now[6], then[6])) and len(now[6]) == len(then[6])
        assert len(tensors) == len(before_tensors)
        for now, then in zip(tensors, before_tensors):
            name = then[0]
            assert now[1] is then[1], f"{name} replaced"
            assert torch.equal(now[2], then[2]), f"{name} values changed"
            assert now[3] == then[3], f"{name} storage changed"
            assert now[4] == then[4], f"{name} requires_grad changed"
            assert now[5] is then[5], f"{name}.grad changed"


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.flatten().double(), b.flatten().double()
    return float(a @ b / (a.norm() * b.norm()).clamp_min(1e-300))


def assert_same_map(ours: torch.Tensor, ref: torch.Tensor, rtol: float = 1e-4):
    """Equal up to float rounding: max difference within rtol of the largest value, and cosine >= 0.9999."""
    ours, ref = ours.detach(), ref.detach()
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    scale = float(ref.abs().max())
    assert scale > 0, "reference map is all zero: the comparison would prove nothing"
    err = float((ours - ref).abs().max())
    assert err <= rtol * scale, f"max difference {err:.3g} > {rtol} x {scale:.3g}"
    assert cosine(ours, ref) >= 0.9999
