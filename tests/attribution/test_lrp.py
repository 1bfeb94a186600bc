"""LRP: the same relevance as Zennit's composites, and canonisation that keeps LRP exact.

For ReLU networks LRP-epsilon with epsilon -> 0 equals gradient x input divided by the target
logit (Zennit starts from relevance 1). That identity only holds when the canonizers preserve the
network's function, conserve relevance through residual sums and give every BatchNorm its scale
and bias, so it checks them: on ResNet18 (BatchNorm merge, Sum modules for the skips, shared
in-place ReLU), VGG and DenseNets (only the BatchNorms that directly follow a convolution are
merged; the ones after concatenations, in transitions and norm5 become per-channel affine layers),
with random BatchNorm statistics and with statistics measured on data ("trained-like").
z+ leaves biases out, so it conserves relevance exactly on all of them.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torchvision
from torch import nn
from zennit.attribution import Gradient
from zennit.composites import (
    EpsilonAlpha2Beta1Flat, EpsilonPlusFlat, LayerMapComposite, SpecialFirstLayerMapComposite, layer_map_base,
)
from zennit.rules import Epsilon, Flat, ZPlus
from zennit.torchvision import ResNetCanonizer, VGGCanonizer
from zennit.types import Convolution, Linear

from attriflow.attribution import attribute

from .conftest import (
    ModelState, assert_same_map, images, make_densenet, make_resnet18, make_vgg, non_inplace_copy, randomize_batchnorm,
)

TARGET = torch.tensor([2, 5, 9])


def zennit_relevance(model, x, composite):
    with Gradient(model=model, composite=composite) as attributor:
        _, relevance = attributor(x, torch.eye(10)[TARGET])
    return relevance


ZENNIT = {
    "lrp_alpha1beta0": lambda canon: EpsilonPlusFlat(canonizers=canon),
    "lrp_zplus": lambda canon: SpecialFirstLayerMapComposite(  # EpsilonPlusFlat with bias-free z+ on convolutions
        layer_map=layer_map_base() + [(Convolution, ZPlus(zero_params="bias")), (nn.Linear, Epsilon())],
        first_map=[(Linear, Flat())], canonizers=canon,
    ),
    "lrp_alpha2beta1": lambda canon: EpsilonAlpha2Beta1Flat(canonizers=canon),
    "lrp_epsilon": lambda canon: LayerMapComposite(
        layer_map=layer_map_base() + [(Convolution, Epsilon()), (nn.Linear, Epsilon())], canonizers=canon
    ),
}


@pytest.mark.parametrize("method", sorted(ZENNIT))
@pytest.mark.parametrize("arch", ["resnet18", "vgg_bn"])
def test_same_relevance_as_zennit(method, arch):
    """Same composites and canonizers; BatchNorm eps = 0 so that Zennit's merged BatchNorm (which keeps
    dividing by sqrt(1 + eps)) and ours (an exact identity) compute the same network."""
    model = make_resnet18() if arch == "resnet18" else make_vgg(batch_norm=True)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eps = 0.0
    canon = [ResNetCanonizer()] if arch == "resnet18" else [VGGCanonizer()]
    x = images()
    state = ModelState(model)
    ours = attribute(model, x, TARGET, method, reduce=None)
    state.assert_unchanged()
    ref = zennit_relevance(non_inplace_copy(model), x, ZENNIT[method](canon))
    assert_same_map(ours, ref)


def test_default_eps_differs_from_zennit_only_by_its_inexact_identity():
    model, x = make_resnet18(), images()
    ours = attribute(model, x, TARGET, "lrp_alpha1beta0", reduce=None)
    ref = zennit_relevance(non_inplace_copy(model), x, EpsilonPlusFlat(canonizers=[ResNetCanonizer()]))
    assert_same_map(ours, ref, rtol=2e-3)


def _lrp0_equals_gradient_x_input(model, x, **params):
    model = model.double()
    x = x.double()
    lrp = attribute(model, x, TARGET, "lrp_epsilon", epsilon=1e-12, stabilizer=1e-12, reduce=None, **params)
    gxi = attribute(model, x, TARGET, "input_x_gradient", reduce=None)
    with torch.no_grad():
        logit = model(x).gather(1, TARGET[:, None]).view(-1, 1, 1, 1)
    return lrp, gxi / logit


def test_canonized_resnet_lrp0_is_gradient_x_input_over_logit():
    lrp, expected = _lrp0_equals_gradient_x_input(make_resnet18(), images())
    assert_same_map(lrp, expected, rtol=1e-6)
    # without canonizers the skips double-count relevance and BatchNorm is passed unchanged: not LRP-0
    raw, expected = _lrp0_equals_gradient_x_input(make_resnet18(), images(), canonize=False)
    assert float((raw - expected).abs().max()) > 1e-2 * float(expected.abs().max())


def test_residual_additions_written_with_plus_are_canonized():
    """Our own BasicBlock adds its skip with ``+`` (a projection skip, then an identity skip)."""
    from attriflow.models.resnet import BasicBlock

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), BasicBlock(8, 16, 2), BasicBlock(16, 16, 1),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10),
    )
    model = randomize_batchnorm(model).eval()
    lrp, expected = _lrp0_equals_gradient_x_input(model, images())
    assert_same_map(lrp, expected, rtol=1e-6)
    raw, expected = _lrp0_equals_gradient_x_input(model, images(), canonize=False)
    assert float((raw - expected).abs().max()) > 1e-2 * float(expected.abs().max())


def test_timm_resnet_is_canonized():
    import timm

    torch.manual_seed(0)
    model = timm.create_model("resnet10t", num_classes=10)
    lrp, expected = _lrp0_equals_gradient_x_input(randomize_batchnorm(model).eval(), images())
    assert_same_map(lrp, expected, rtol=1e-6)


class MeanHeadDenseNet(torchvision.models.DenseNet):
    """A DenseNet subclass with its own head: a ReLU module and x.mean over the positions (as ours)."""

    def __init__(self):
        super().__init__(growth_rate=8, block_config=(2, 2), num_init_features=16, bn_size=2, num_classes=10)
        self.features.add_module("relu5", nn.ReLU())

    def forward(self, x):
        return self.classifier(self.features(x).mean(dim=(2, 3)))


def _small_densenet():
    from attriflow.models import create_model

    return create_model("small_densenet", num_classes=10, stem="small")


def _small_vgg():
    from attriflow.models import create_model

    return create_model("small_vgg", num_classes=10)


def _small_resnet():
    from attriflow.models import create_model

    return create_model("small_resnet", num_classes=10, stem="cifar")


ARCHITECTURES = {
    "torchvision_densenet": lambda: torchvision.models.DenseNet(
        growth_rate=8, block_config=(2, 2), num_init_features=16, bn_size=2, num_classes=10),
    "densenet_mean_head": MeanHeadDenseNet,
    "small_densenet": _small_densenet,
    "resnet18": lambda: torchvision.models.resnet18(num_classes=10),
    "small_resnet": _small_resnet,
    "vgg_bn": lambda: make_vgg(batch_norm=True),
    "small_vgg": _small_vgg,
}


@torch.no_grad()
def measured_batchnorm(model: nn.Module) -> nn.Module:
    """Running statistics measured on data, as training leaves them ("trained-like"): a few
    train-mode forwards with cumulative averaging, then eval mode."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    for seed in range(3):
        model(images(n=8, seed=10 + seed) + 0.5)
    return model.eval()


def architecture(name: str, statistics: str) -> nn.Module:
    torch.manual_seed(0)
    model = ARCHITECTURES[name]()
    return measured_batchnorm(model) if statistics == "measured" else randomize_batchnorm(model).eval()


@pytest.mark.parametrize("statistics", ["random", "measured"])
@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_lrp0_is_gradient_x_input_over_logit_through_every_batchnorm(arch, statistics):
    """The trap of Zennit's Pass rule for BatchNorms after DenseNet concatenations: it ignores their scale
    and bias, so LRP-epsilon x logit is far from gradient x input (checked with canonize=False on DenseNets)."""
    model = architecture(arch, statistics)
    lrp, expected = _lrp0_equals_gradient_x_input(model, images())
    assert_same_map(lrp, expected, rtol=1e-6)
    if "densenet" in arch:
        raw, expected = _lrp0_equals_gradient_x_input(model, images(), canonize=False)
        assert float((raw - expected).abs().max()) > 1e-2 * float(expected.abs().max())


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_zplus_conserves_relevance_with_random_batchnorm(arch):
    """z+ leaves every bias (merged BatchNorm, affine stand-in) out: with bias-free dense layers (the
    Epsilon rule there conserves too) each map sums to the starting relevance 1.
    Alpha1-beta0 keeps positive biases, which absorb relevance: a different map.
    (Exact up to units before a residual addition that have no positive contribution at all: they cannot
    pass on the share the Sum rule gives them; 1e-4 of the total on small_resnet.)"""
    model = architecture(arch, "random").double()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Linear):
                m.bias.zero_()
    x = images().double()
    zplus = attribute(model, x, TARGET, "lrp_zplus", epsilon=1e-12, stabilizer=1e-12, reduce=None)
    torch.testing.assert_close(zplus.sum(dim=(1, 2, 3)), torch.ones(3, dtype=torch.float64), rtol=0, atol=1e-3)
    ab = attribute(model, x, TARGET, "lrp_alpha1beta0", epsilon=1e-12, stabilizer=1e-12, reduce=None)
    assert float((ab - zplus).abs().max()) > 1e-2 * float(zplus.abs().max())


def test_batchnorm_affine_stand_in_is_exact_and_removed_afterwards():
    """Every unmerged BatchNorm is replaced by its per-channel affine layer for the pass only."""
    from attriflow.attribution.canonizers import BatchNormAsAffine, ChannelAffine, affine_of

    model = architecture("small_densenet", "random")
    bn = model.features.denseblock1.denselayer1.norm1
    x = torch.randn(2, bn.num_features, 5, 5)
    with torch.no_grad():
        torch.testing.assert_close(affine_of(bn)(x), bn(x), rtol=1e-5, atol=1e-6)
    state = ModelState(model)
    (instance,) = BatchNormAsAffine().apply(model)
    assert isinstance(model.features.denseblock1.denselayer1.norm1, ChannelAffine)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    instance.remove()
    state.assert_unchanged()


def test_zennit_sequential_merge_cannot_canonize_a_densenet():
    """The trap the DenseNet canonizer avoids: in module order every dense layer's norm1 (which reads a
    concatenation) follows the previous layer's conv2, so Zennit's sequential merge pairs them wrongly."""
    model = make_densenet()
    composite = LayerMapComposite(layer_map=layer_map_base() + [(Convolution, Epsilon())], canonizers=[VGGCanonizer()])
    with pytest.raises(RuntimeError, match="size"):
        zennit_relevance(copy.deepcopy(model), images(), composite)  # (and leaves that copy half-merged)
    ours = attribute(model, images(), TARGET, "lrp_epsilon")
    assert torch.isfinite(ours).all() and float(ours.abs().max()) > 0


def test_zplus_propagates_only_positive_relevance_and_conserves_it():
    """Bias-free conv net whose dense head has positive weights: every relevance entering the convolutions
    is positive; z+ keeps it non-negative down to the input and conserves its total (1 per image), while
    the epsilon rule (LRP-0) produces negative relevance from the mixed-sign convolution weights."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1, bias=False), nn.ReLU(), nn.Conv2d(6, 8, 3, padding=1, bias=False), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2, bias=False),
    ).double().eval()
    with torch.no_grad():
        model[-1].weight.abs_()
    x = images(n=2, size=8).double()
    zplus = attribute(model, x, 0, "lrp_zplus", epsilon=1e-12, stabilizer=1e-12, reduce=None)
    assert float(zplus.min()) >= 0
    torch.testing.assert_close(zplus.sum(dim=(1, 2, 3)), torch.ones(2, dtype=torch.float64))
    eps = attribute(model, x, 0, "lrp_epsilon", epsilon=1e-12, stabilizer=1e-12, reduce=None)
    assert float(eps.min()) < 0
    torch.testing.assert_close(eps.sum(dim=(1, 2, 3)), torch.ones(2, dtype=torch.float64))


def test_in_place_relus_run_out_of_place_and_are_restored_even_on_error():
    """LRP flips torchvision's in-place ReLUs for the pass (same maps, cheaper for Zennit's hooks)
    and puts the flag back, also when the pass fails."""
    from attriflow.attribution.lrp import out_of_place_relus

    model = make_resnet18()
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert relus and all(m.inplace for m in relus)
    x = images()
    inplace_map = attribute(model, x, TARGET, "lrp_zplus", reduce=None)
    assert all(m.inplace for m in relus)
    assert_same_map(inplace_map, attribute(non_inplace_copy(model), x, TARGET, "lrp_zplus", reduce=None))
    with pytest.raises(RuntimeError, match="boom"):
        with out_of_place_relus(model):
            assert not any(m.inplace for m in relus)
            raise RuntimeError("boom")
    assert all(m.inplace for m in relus)
