"""Same numbers as Captum on seeded random ResNet18 (shared in-place ReLU) and VGG-like models.

Captum runs on a copy with non-inplace ReLUs (its module hooks need that); ours runs on the model
as given.
"""

from __future__ import annotations

import pytest
import torch
from captum.attr import (
    Deconvolution, GuidedBackprop, InputXGradient, IntegratedGradients, LayerAttribution, LayerGradCam, NoiseTunnel,
    Saliency,
)

from attriflow.attribution import attribute

from .conftest import assert_same_map, images, make_resnet18, make_vgg, non_inplace_copy

MODELS = {"resnet18": (make_resnet18, "layer4"), "vgg": (make_vgg, "features")}
TARGET = torch.tensor([3, 0, 7])
pytestmark = [
    pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients"),
    pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU"),
]


@pytest.fixture(scope="module", params=sorted(MODELS))
def case(request):
    make, layer = MODELS[request.param]
    model = make()
    return model, non_inplace_copy(model), layer


def test_gradient_and_input_x_gradient(case):
    model, oracle, _ = case
    x = images()
    ours = attribute(model, x, TARGET, "gradient", reduce=None)
    assert_same_map(ours, Saliency(oracle).attribute(x, target=TARGET, abs=False))
    ours = attribute(model, x, TARGET, "input_x_gradient", reduce=None)
    assert_same_map(ours, InputXGradient(oracle).attribute(x, target=TARGET))


@pytest.mark.parametrize("integration", ["gausslegendre", "riemann_middle"])
def test_integrated_gradients(case, integration):
    model, oracle, _ = case
    x = images()
    ours = attribute(model, x, TARGET, "integrated_gradients", steps=12, integration=integration, batch_size=10,
                     reduce=None)
    ref = IntegratedGradients(oracle).attribute(x, target=TARGET, n_steps=12, method=integration,
                                                internal_batch_size=10)
    assert_same_map(ours, ref)


def test_trapezoid_uses_proper_weights_where_captum_uses_1_over_n(case):
    model, oracle, _ = case
    x, n = images(), 12
    ours = attribute(model, x, TARGET, "integrated_gradients", steps=n, integration="riemann_trapezoid", reduce=None)
    ref = IntegratedGradients(oracle).attribute(x, target=TARGET, n_steps=n, method="riemann_trapezoid")
    assert_same_map(ours, ref * n / (n - 1))


def test_smoothgrad_matches_noise_tunnel_with_the_same_seed(case):
    model, oracle, _ = case
    x = images().clamp(-2, 2)
    x[:, 0, 0, 0], x[:, 0, 0, 1] = -2.0, 2.0  # every image spans [-2, 2]: one noise std for all
    noise, samples = 0.1, 6
    torch.manual_seed(123)
    ours = attribute(model, x, TARGET, "smoothgrad", samples=samples, noise=noise, batch_size=4, reduce=None)
    torch.manual_seed(123)
    ref = NoiseTunnel(Saliency(oracle)).attribute(
        x, nt_type="smoothgrad", nt_samples=samples, stdevs=noise * 4.0, target=TARGET, abs=False
    )
    assert_same_map(ours, ref)
    torch.manual_seed(123)
    ours_sq = attribute(model, x, TARGET, "smoothgrad", samples=samples, noise=noise, squared=True, reduce=None)
    torch.manual_seed(123)
    ref_sq = NoiseTunnel(Saliency(oracle)).attribute(
        x, nt_type="smoothgrad_sq", nt_samples=samples, stdevs=noise * 4.0, target=TARGET, abs=False
    )
    assert_same_map(ours_sq, ref_sq)


def test_guided_backprop_and_deconvnet(case):
    model, oracle, _ = case
    x = images()
    ours = attribute(model, x, TARGET, "guided_backprop", reduce=None)
    assert_same_map(ours, GuidedBackprop(oracle).attribute(x, target=TARGET))
    ours = attribute(model, x, TARGET, "deconvnet", reduce=None)
    assert_same_map(ours, Deconvolution(oracle).attribute(x, target=TARGET))


def test_grad_cam_matches_layer_grad_cam_with_relu_and_bilinear_upsampling(case):
    model, oracle, layer = case
    x = images(size=64)
    ours = attribute(model, x, TARGET, "grad_cam", layer=layer)
    ref = LayerGradCam(oracle, oracle.get_submodule(layer)).attribute(x, target=TARGET, relu_attributions=True)
    ref = LayerAttribution.interpolate(ref, x.shape[-2:], interpolate_mode="bilinear").detach()
    assert_same_map(ours, ref[:, 0])
    # the default layer is the one the papers use for this architecture
    assert_same_map(attribute(model, x, TARGET, "grad_cam"), ours, rtol=0)
