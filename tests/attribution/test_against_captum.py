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

MODELS = {"resnet18": (make_resnet18, "layer4"), "vgg": (make_vgg, "features.9")}
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


def torchvision_vgg16_layout(width: float = 0.125, num_classes: int = 10) -> torch.nn.Module:
    """torchvision's VGG class with VGG16's layout at 1/8 width (8..64 channels) and a small head."""
    from torchvision.models.vgg import VGG, cfgs, make_layers

    with torch.device("meta"):  # skip building the 100M-parameter classifier for real
        model = VGG(make_layers([v if v == "M" else int(v * width) for v in cfgs["D"]]))
    torch.manual_seed(0)
    model.features = make_layers([v if v == "M" else int(v * width) for v in cfgs["D"]])
    model.classifier = torch.nn.Linear(int(512 * width) * 7 * 7, num_classes)
    return model.eval()


def test_vgg_default_cam_layer_is_conv5_3_rectified_and_matches_layer_grad_cam():
    """For torchvision VGGs the default CAM layer is conv5_3's ReLU (features.29), 14x14 at 224 px and
    4x4 at 64 px, not ``features`` (after the last max-pool); Captum's LayerGradCam on that layer, with
    its ReLU asked for, gives the same map."""
    model = torchvision_vgg16_layout()
    x = images(size=64)
    ours = attribute(model, x, TARGET, "grad_cam")
    oracle = non_inplace_copy(model)
    ref = LayerGradCam(oracle, oracle.features[29]).attribute(x, target=TARGET, relu_attributions=True)
    assert ref.shape[-2:] == (4, 4)
    ref = LayerAttribution.interpolate(ref, x.shape[-2:], interpolate_mode="bilinear").detach()
    assert_same_map(ours, ref[:, 0])
    # GradCAM's ReLU: Captum applies none unless asked; ours applies it by default and relu=False drops it
    raw = LayerGradCam(oracle, oracle.features[29]).attribute(x, target=TARGET)
    raw = LayerAttribution.interpolate(raw, x.shape[-2:], interpolate_mode="bilinear").detach()[:, 0]
    assert float(raw.min()) < 0 <= float(ours.min())
    assert_same_map(attribute(model, x, TARGET, "grad_cam", relu=False), raw)
    # the map of the pooled `features` output (2x2) is a different, coarser map
    pooled = attribute(model, x, TARGET, "grad_cam", layer="features")
    assert float((pooled - ours).abs().max()) > 1e-2 * float(ours.abs().max())
