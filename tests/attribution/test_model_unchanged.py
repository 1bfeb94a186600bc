"""Every method leaves the caller's model as it was: module objects, hooks, parameters, buffers,
requires_grad and training flags, also when the method fails half-way (forward or backward)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attriflow.attribution import attribute, list_methods, preserved

from .conftest import ModelState, images, make_densenet, make_resnet18

FAST = {"integrated_gradients": {"steps": 3, "fast": True}, "smoothgrad": {"samples": 2, "fast": True}}


def small_params(method):
    return {"integrated_gradients": {"steps": 3}, "smoothgrad": {"samples": 2}}.get(method, {})


@pytest.fixture(scope="module")
def hooked_resnet():
    """ResNet18 (one shared in-place ReLU per block) with a user hook and a frozen layer, as a caller might have."""
    model = make_resnet18()
    calls = []
    model.layer2.register_forward_hook(lambda m, i, o: calls.append(1))
    model.layer1[0].conv1.weight.requires_grad_(False)
    return model, calls


@pytest.mark.parametrize("method", list_methods())
def test_model_unchanged_after_every_method(method, hooked_resnet):
    model, calls = hooked_resnet
    state = ModelState(model)
    calls.clear()
    attribute(model, images(n=2), 1, method, **small_params(method))
    state.assert_unchanged()
    assert method == "random" or calls  # the user's hook still ran during the method
    calls.clear()
    with torch.no_grad():
        model(images(n=1))
    assert calls == [1]  # and is still registered exactly once


@pytest.mark.parametrize("method", ["lrp_zplus", "grad_cam", "full_grad", "guided_backprop"])
def test_densenet_unchanged(method):
    model = make_densenet()
    state = ModelState(model)
    attribute(model, images(n=2), 3, method)
    state.assert_unchanged()


@pytest.mark.parametrize("method", sorted(FAST))
def test_fast_mode_leaves_the_model_unchanged(method):
    model = make_resnet18()
    state = ModelState(model)
    with pytest.warns(UserWarning, match="fast=True"):
        attribute(model, images(n=2), 1, method, **FAST[method])
    state.assert_unchanged()


class _FailInBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        raise RuntimeError("boom in backward")


class Bomb(nn.Module):
    """Identity that raises on its ``after``-th call, in the forward or (when gradients flow) the backward."""

    def __init__(self, after: int, where: str):
        super().__init__()
        self.after, self.where, self.calls = after, where, []  # a list: survives the guard's attribute restore

    def forward(self, x):
        self.calls.append(1)
        if self.after and len(self.calls) >= self.after:
            if self.where == "forward":
                raise RuntimeError("boom in forward")
            if x.requires_grad:
                return _FailInBackward.apply(x)
        return x


@pytest.mark.parametrize("where", ["forward", "backward"])
@pytest.mark.parametrize("method", list_methods())
def test_model_unchanged_when_the_method_fails_half_way(method, where):
    if method == "random":
        pytest.skip("random never runs the model")
    model = make_resnet18()
    bomb = Bomb(after=2 if method in ("integrated_gradients", "smoothgrad") else 1, where=where)
    model.layer4 = nn.Sequential(model.layer4, bomb)  # after the CAM layer's output and every BatchNorm hook
    params = dict(small_params(method), batch_size=2)
    if method in ("grad_cam", "grad_cam_pp"):
        params["layer"] = "layer4.0"
    state = ModelState(model)
    with pytest.raises(RuntimeError, match="boom"):
        attribute(model, images(n=4), 1, method, **params)
    assert bomb.calls
    state.assert_unchanged()
    bomb.after = 0  # disarm
    attribute(model, images(n=2), 1, "gradient")  # the model still works


def test_preserved_reverts_every_kind_of_change_even_on_error():
    model = make_resnet18()
    state = ModelState(model)
    original_conv = model.conv1
    with pytest.raises(KeyError):
        with preserved(model):
            model.layer1[0].register_forward_hook(lambda *a: None)
            model.layer1[0].conv1.register_full_backward_hook(lambda *a: None)
            model.conv1 = nn.Conv2d(3, 64, 7)
            model.extra = nn.ReLU()
            model.layer2[0].note = "added"
            model.fc.weight.requires_grad_(False)
            model.bn1.running_mean.data = torch.zeros(64)
            model.layer3[0].bn1.weight.data = torch.ones(64)
            model.fc.bias = None
            model.train()
            raise KeyError("fail")
    assert model.conv1 is original_conv
    state.assert_unchanged()
