"""Properties that pin the definitions: completeness, limiting cases, closed forms, and the
positive-aggregation / propagation switches changing results exactly where they should."""

from __future__ import annotations

import numpy as np
import pytest
import timm
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from attriflow.attribution import attribute, default_layer
from attriflow.attribution.cam import layer_activation_and_gradient
from attriflow.attribution.full_grad import effective_bias, full_gradient_terms
from attriflow.attribution.integrated_gradients import generator, make_baseline

from .conftest import assert_same_map, images, make_densenet, make_resnet18, make_vgg, non_inplace_copy

TARGET = torch.tensor([1, 4])


def logit(model, x, target=TARGET):
    with torch.no_grad():
        return model(x).gather(1, target[:, None]).squeeze(1)


# --- Integrated Gradients -------------------------------------------------------------------

@pytest.mark.parametrize("baseline", ["zero", "blurred", "uniform"])
def test_integrated_gradients_completeness_at_256_steps(baseline):
    """sum of attributions = f(x) - f(baseline) within 1%, for the class with the largest change (a gap
    that is tiny next to the logits would test the quadrature of a kinked path, not completeness)."""
    model, x = make_resnet18(), images(n=2)
    base = make_baseline(x, baseline, 5.0, generator(5, x.device))
    with torch.no_grad():
        target = (model(x) - model(base)).abs().argmax(1)
    attr = attribute(model, x, target, "integrated_gradients", steps=256, baseline=baseline, seed=5,
                     batch_size=128, reduce=None)
    gap = logit(model, x, target) - logit(model, base, target)
    assert torch.all(gap.abs() > 0.1)
    torch.testing.assert_close(attr.sum(dim=(1, 2, 3)), gap, rtol=0.01, atol=0.0)


def test_blurred_baseline_is_smooth_and_uniform_is_within_range():
    x = images(n=2)
    blurred = make_baseline(x, "blurred", 3.0, None)
    assert blurred.diff(dim=-1).abs().mean() < 0.2 * x.diff(dim=-1).abs().mean()
    uniform = make_baseline(x, "uniform", 3.0, generator(0, x.device))
    assert torch.all(uniform.amin(dim=(1, 2, 3)) >= x.amin(dim=(1, 2, 3)))
    assert torch.all(uniform.amax(dim=(1, 2, 3)) <= x.amax(dim=(1, 2, 3)))


# --- FullGrad -------------------------------------------------------------------------------

@pytest.mark.parametrize("arch", ["resnet18", "vgg_bn"])
def test_full_gradient_completeness(arch):
    """f(x) = <df/dx, x> + sum over conv / BN / linear layers of <df/dz, b_effective> (eval mode)."""
    model = (make_resnet18() if arch == "resnet18" else make_vgg(batch_norm=True)).double()
    x = images(n=2).double()
    terms = []
    grad = full_gradient_terms(model, x, TARGET, lambda module, term: terms.append((module, term)))
    kinds = {type(m) for m, _ in terms}
    assert nn.BatchNorm2d in kinds and nn.Linear in kinds
    total = (grad * x).sum(dim=(1, 2, 3)) + sum(t.flatten(1).sum(1) for _, t in terms)
    torch.testing.assert_close(total, logit(model, x), rtol=1e-9, atol=1e-9)


def test_full_grad_map_matches_a_per_layer_reference():
    """Reference: retain every conv / BN output gradient (on a copy with non-inplace ReLUs, so the retained
    gradient is the layer output's), post-process each layer, upsample every channel, sum."""
    model, x = make_vgg(batch_norm=True).double(), images(n=2).double()
    oracle = non_inplace_copy(model)
    outputs = []

    def keep(module, _inputs, output):
        output.retain_grad()
        outputs.append((module, output))

    hooks = [m.register_forward_hook(keep) for m in oracle.modules() if isinstance(m, (nn.Conv2d, nn.BatchNorm2d))]
    xg = x.clone().requires_grad_(True)
    oracle(xg).gather(1, TARGET[:, None]).sum().backward()
    for h in hooks:
        h.remove()

    def psi(t):  # the authors' post-processing: abs, per-image min-max over all channels and positions
        t = t.abs()
        flat = t.flatten(1)
        t = t - flat.min(1).values.view(-1, 1, 1, 1)
        return t / (t.flatten(1).max(1).values.view(-1, 1, 1, 1) + 1e-6)

    expected = psi(xg.grad * x).sum(1)
    for m, o in outputs:
        b = effective_bias(m).detach().view(1, -1, 1, 1)
        up = F.interpolate(psi(o.grad * b), size=x.shape[-2:], mode="bilinear", align_corners=True)
        expected = expected + up.sum(1)
    assert_same_map(attribute(model, x, TARGET, "full_grad"), expected.detach(), rtol=1e-9)


# --- RectGrad -------------------------------------------------------------------------------

def test_rectgrad_with_q0_is_the_gradient():
    model, x = make_resnet18(), images(n=2)
    torch.testing.assert_close(
        attribute(model, x, TARGET, "rectgrad", q=0.0, reduce=None),
        attribute(model, x, TARGET, "gradient", reduce=None), rtol=0, atol=0,
    )


@pytest.mark.parametrize("score", ["signed", "absolute"])
def test_rectgrad_near_100_keeps_only_the_strongest_path(score):
    """One hidden ReLU layer of n units: at the percentile just below the top unit, the input gradient is
    that unit's path alone, v[t, k] * W[k], with k the unit of largest a*g (or |a*g|)."""
    torch.manual_seed(3)
    n = 16
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, n), nn.ReLU(), nn.Linear(n, 3)).double().eval()
    x = images(n=2, size=4).double()
    w1, v = model[1].weight, model[3].weight
    target = torch.tensor([0, 2])
    a = torch.relu(model[1](x.flatten(1))).detach()
    g = v[target].detach()
    s = a * g if score == "signed" else (a * g).abs()
    k = s.argmax(1)
    expected = (g.gather(1, k[:, None]) * w1[k]).view_as(x)
    q = 100.0 * (n - 2) / (n - 1)
    got = attribute(model, x, target, "rectgrad", q=q, score=score, reduce=None)
    torch.testing.assert_close(got, expected.detach(), rtol=1e-12, atol=1e-12)
    grad = attribute(model, x, target, "gradient", reduce=None)
    assert float((grad - got).abs().max()) > 0  # more than one unit carried gradient before


def test_rectgrad_variants_differ_and_sparsify():
    model, x = make_vgg(), images(n=2)
    plain = attribute(model, x, TARGET, "gradient", reduce=None)
    signed = attribute(model, x, TARGET, "rectgrad", reduce=None)
    absolute = attribute(model, x, TARGET, "rectgrad", score="absolute", reduce=None)
    assert (signed != 0).sum() < (plain != 0).sum()
    assert not torch.allclose(signed, absolute)


# --- GradCAM / GradCAM++ --------------------------------------------------------------------

class TinyCAMNet(nn.Module):
    """conv (the explained layer) -> ReLU -> global average pooling -> linear: dy/dA is known in closed form."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(self.pool(torch.relu(self.conv(x))).flatten(1))


def test_grad_cam_pp_against_its_closed_form():
    torch.manual_seed(0)
    model = TinyCAMNet().double().eval()
    x = images(n=2, size=6).double()
    target = np.array([0, 2])
    with torch.no_grad():
        a = model.conv(x).numpy()  # (N, C, h, w), h = w = 6
    v = model.fc.weight.detach().numpy()
    n, c, h, w = a.shape
    cams = np.zeros((n, h, w))
    for i in range(n):
        for ch in range(c):
            g = v[target[i], ch] * (a[i, ch] > 0) / (h * w)  # d y / d A for relu -> mean -> linear
            denom = 2 * g**2 + a[i, ch].sum() * g**3
            alpha = np.where(denom != 0, g**2 / np.where(denom != 0, denom, 1), 0.0)
            cams[i] += (alpha * np.maximum(g, 0)).sum() * a[i, ch]
    cams = np.maximum(cams, 0)
    assert cams.max() > 0
    got = attribute(model, x, torch.as_tensor(target), "grad_cam_pp", layer="conv")
    np.testing.assert_allclose(got.numpy(), cams, rtol=1e-10, atol=1e-12)


def test_grad_cam_positive_aggregation_changes_the_map_only_with_negative_gradients():
    model, x = make_resnet18(), images(n=2, size=64)
    _, g = layer_activation_and_gradient(model, x, TARGET, "layer4")
    assert (g < 0).any() and (g > 0).any()
    for method in ("grad_cam", "grad_cam_pp"):
        signed = attribute(model, x, TARGET, method, aggregation="signed", relu=False)
        positive = attribute(model, x, TARGET, method, aggregation="positive", relu=False)
        absolute = attribute(model, x, TARGET, method, aggregation="absolute", relu=False)
        assert not torch.allclose(signed, positive) and not torch.allclose(positive, absolute)
    # with only non-negative gradients (positive head, ReLU feature map) the switches agree
    torch.manual_seed(0)
    tiny = TinyCAMNet().eval()
    with torch.no_grad():
        tiny.fc.weight.abs_()
    xs = images(n=2, size=6)
    for method in ("grad_cam", "grad_cam_pp"):
        a = attribute(tiny, xs, 0, method, layer="conv", aggregation="signed")
        b = attribute(tiny, xs, 0, method, layer="conv", aggregation="positive")
        assert float(a.abs().max()) > 0
        torch.testing.assert_close(a, b)


def test_full_grad_switches_change_the_map():
    model, x = make_vgg(batch_norm=True), images(n=2)
    maps = {a: attribute(model, x, TARGET, "full_grad", aggregation=a) for a in ("absolute", "positive", "signed")}
    assert float(maps["signed"].min()) < 0 <= float(maps["absolute"].min())
    assert not torch.allclose(maps["absolute"], maps["positive"])


def test_guided_and_deconv_propagation_differ_from_the_gradient():
    model, x = make_resnet18(), images(n=2)
    grad = attribute(model, x, TARGET, "gradient")
    for method in ("guided_backprop", "deconvnet"):
        assert not torch.allclose(attribute(model, x, TARGET, method), grad, atol=1e-6)


# --- default layers and the DenseNet CAM ------------------------------------------------------

def test_default_layers_per_architecture():
    assert default_layer(make_resnet18()) == "layer4"
    assert default_layer(make_densenet()) == "features"
    with torch.device("meta"):  # VGG-like: the last conv's rectified output (conv5_3 after its ReLU), not the pool
        assert default_layer(torchvision.models.vgg11()) == "features.19"
        assert default_layer(torchvision.models.vgg16()) == "features.29"
        assert default_layer(torchvision.models.vgg16_bn()) == "features.42"
    assert default_layer(timm.create_model("resnet10t", num_classes=3)) == "layer4"
    assert default_layer(make_vgg()) == "features.9"  # our test VGG: also VGG-like
    from attriflow.models import create_model

    assert default_layer(create_model("small_vgg", num_classes=3)) == "features.27"
    assert default_layer(create_model("small_densenet", num_classes=3), images(n=1)) == "features"
    # discovered: the last 4-D, more-than-one-position, non-pooling output (the outermost module)
    assert default_layer(create_model("small_resnet", num_classes=3), images(n=1, size=64)) == "layer4"
    assert default_layer(TinyCAMNet(), images(n=1, size=6)) == "conv"


def test_densenet_cam_is_of_the_features_output_before_the_functional_relu():
    model, x = make_densenet(), images(n=2)
    with torch.no_grad():
        a = model.features(x)
    assert (a < 0).any()  # norm5 output, before DenseNet's F.relu
    feats = a.detach().requires_grad_(True)
    out = model.classifier(F.adaptive_avg_pool2d(F.relu(feats), 1).flatten(1))
    (g,) = torch.autograd.grad(out.gather(1, TARGET[:, None]).sum(), feats)
    cam = torch.relu((g.mean(dim=(2, 3), keepdim=True) * a).sum(1, keepdim=True))
    expected = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    assert_same_map(attribute(model, x, TARGET, "grad_cam"), expected, rtol=1e-5)


# --- reductions, dtypes, targets ------------------------------------------------------------

def test_reductions_and_absolute():
    model, x = make_vgg(), images(n=2)
    full = attribute(model, x, TARGET, "gradient", reduce=None)
    assert full.shape == x.shape
    torch.testing.assert_close(attribute(model, x, TARGET, "gradient"), full.sum(1))
    torch.testing.assert_close(attribute(model, x, TARGET, "gradient", reduce="mean"), full.mean(1))
    torch.testing.assert_close(attribute(model, x, TARGET, "gradient", absolute=True), full.abs().sum(1))
    maxabs = attribute(model, x, TARGET, "gradient", reduce="max_abs")
    torch.testing.assert_close(maxabs.abs(), full.abs().amax(1))
    assert (maxabs < 0).any()  # signed value kept
    cam = attribute(model, x, TARGET, "grad_cam", reduce=None, layer="features.9")
    assert cam.shape == (2, 1, 32, 32)


def test_dtype_device_and_predicted_target():
    model = make_vgg()
    x = images(n=3).double()
    out = attribute(model, x, None, "input_x_gradient")
    assert out.dtype == torch.float64 and out.device == x.device and out.shape == (3, 32, 32)
    logits = model(x.float())
    logit_argmax = logits.argmax(1)
    torch.testing.assert_close(out, attribute(model, x, logit_argmax, "input_x_gradient"))
    # and None is not some fixed class: another class gives other maps
    other = (logit_argmax + 1) % logits.shape[1]
    assert not torch.allclose(out, attribute(model, x, other, "input_x_gradient"))
    same = attribute(model, x, 2, "gradient")
    torch.testing.assert_close(same, attribute(model, x, [2, 2, 2], "gradient"))


# --- ReLUs in any form ------------------------------------------------------------------------

class ReLUForms(nn.Module):
    """The same conv net with its ReLUs as modules or as functional / tensor calls, in place or not;
    the in-place tensor call's return value is ignored, so the rule must act in place."""

    def __init__(self, functional: bool):
        super().__init__()
        self.functional = functional
        self.c1, self.c2, self.c3 = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1), nn.Conv2d(8, 8, 3)
        self.r1, self.r2, self.r3 = nn.ReLU(), nn.ReLU(inplace=True), nn.ReLU()
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        if self.functional:
            x = torch.relu(self.c1(x))
            x = F.relu(self.c2(x), inplace=True)
            x = self.c3(x)
            x.relu_()
        else:
            x = self.r3(self.c3(self.r2(self.c2(self.r1(self.c1(x))))))
        return self.fc(x.mean(dim=(2, 3)))


@pytest.mark.parametrize("method", ["guided_backprop", "deconvnet", "rectgrad"])
def test_relu_rules_apply_to_functional_and_in_place_relus(method):
    torch.manual_seed(0)
    modules = ReLUForms(functional=False).eval()
    functional = ReLUForms(functional=True).eval()
    functional.load_state_dict(modules.state_dict())
    x = images(n=2, size=8)
    reference = attribute(modules, x, 1, method, reduce=None)
    assert not torch.allclose(reference, attribute(modules, x, 1, "gradient", reduce=None))
    torch.testing.assert_close(attribute(functional, x, 1, method, reduce=None), reference)
