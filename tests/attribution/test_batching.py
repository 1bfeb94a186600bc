"""Batching: IG and SmoothGrad never run more than ``batch_size`` rows per pass whatever the number of
steps / samples, chunking does not change results, and fast mode reports (and bounds) its deviation."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from attriflow.attribution import FastModeWarning, attribute
from attriflow.attribution.fast_mode import fast_copy

from .conftest import images, make_densenet, make_resnet18, make_vgg


class RowCounter:
    """Records the batch dimension of every forward pass (a user hook on the model)."""

    def __init__(self, model):
        self.rows = []
        self.handle = model.register_forward_pre_hook(lambda m, args: self.rows.append(len(args[0])))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.remove()


@pytest.mark.parametrize("method,key", [("integrated_gradients", "steps"), ("smoothgrad", "samples")])
def test_rows_per_pass_are_bounded_by_batch_size_not_by_steps(method, key):
    model, x = make_vgg(), images(n=3)
    results = {}
    for k in (4, 16):
        with RowCounter(model) as counter:
            results[k] = attribute(model, x, 2, method, batch_size=5, seed=0, **{key: k})
        assert max(counter.rows) <= 5
        assert sum(counter.rows) == 3 * k  # every row evaluated once, no hidden extra passes
    with RowCounter(model) as counter:
        whole = attribute(model, x, 2, method, batch_size=None, seed=0, **{key: 16})
    assert counter.rows == [48]
    torch.testing.assert_close(results[16], whole, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("method", ["gradient", "guided_backprop", "grad_cam", "full_grad", "lrp_zplus"])
def test_single_pass_methods_chunk_by_batch_size_without_changing_results(method):
    model, x = make_vgg(batch_norm=True), images(n=5)
    params = {"layer": "features"} if method == "grad_cam" else {}  # (a default layer is found by one more pass)
    with RowCounter(model) as counter:
        chunked = attribute(model, x, 1, method, batch_size=2, **params)
    assert counter.rows == [2, 2, 1]
    torch.testing.assert_close(chunked, attribute(model, x, 1, method, **params), rtol=1e-5, atol=1e-7)


def test_random_is_reproducible_with_a_seed_and_independent_of_chunks():
    model, x = make_vgg(), images(n=4)
    a = attribute(model, x, 0, "random", seed=3, reduce=None)
    torch.testing.assert_close(a, attribute(model, x, 0, "random", seed=3, reduce=None, batch_size=1))
    assert not torch.equal(a, attribute(model, x, 0, "random", seed=4, reduce=None))
    assert float(a.min()) >= 0 and float(a.max()) < 1


@pytest.mark.parametrize("method,params", [("integrated_gradients", {"steps": 4}), ("smoothgrad", {"samples": 4})])
def test_fast_mode_reports_its_deviation_and_stays_close(method, params):
    model, x = make_resnet18(), images(n=2)
    exact = attribute(model, x, 1, method, seed=0, batch_size=4, **params)
    with pytest.warns(FastModeWarning) as record:
        fast = attribute(model, x, 1, method, seed=0, batch_size=4, fast=True, **params)
    reported = [w.message.relative_difference for w in record if isinstance(w.message, FastModeWarning)]
    assert len(reported) == 1 and 0 <= reported[0] < 1e-3
    assert float((fast - exact).norm() / exact.norm()) < 1e-3


def test_fast_copy_folds_exactly_the_batchnorms_that_follow_a_convolution():
    resnet = make_resnet18()
    folded = fast_copy(resnet, images(n=1))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert sum(isinstance(m, nn.BatchNorm2d) for m in resnet.modules()) == 20  # the original keeps its own
    assert folded.fc.weight is resnet.fc.weight  # untouched tensors are shared, not copied
    assert folded.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    densenet = make_densenet()
    kept = [n for n, m in fast_copy(densenet, images(n=1)).named_modules() if isinstance(m, nn.BatchNorm2d)]
    assert kept and all(not n.endswith("norm2") and not n.endswith("norm0") for n in kept)  # after concatenations
    x = images(n=2)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), resnet(x), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(fast_copy(densenet, x[:1])(x), densenet(x), rtol=1e-4, atol=1e-5)


class SkipAroundBatchNorm(nn.Module):
    """conv -> (BN(conv) + conv): folding the BN into the conv would also scale the skip."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        y = self.conv(x)
        return self.head((self.bn(y) + y).mean(dim=(2, 3)))


def test_fast_mode_falls_back_to_exact_when_folding_is_wrong():
    torch.manual_seed(0)
    model = SkipAroundBatchNorm().eval()
    with torch.no_grad():
        model.bn.running_var.fill_(4.0)
        model.bn.running_mean.fill_(1.0)
    x = images(n=2)
    exact = attribute(model, x, 0, "integrated_gradients", steps=4)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        fast = attribute(model, x, 0, "integrated_gradients", steps=4, fast=True)
    messages = [str(w.message) for w in record if issubclass(w.category, FastModeWarning)]
    assert len(messages) == 1 and "falling back" in messages[0]
    torch.testing.assert_close(fast, exact)
