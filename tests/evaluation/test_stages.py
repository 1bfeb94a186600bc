"""Randomisation stages: the papers' blocks top to bottom, Quantus' layer order, seeded re-draws."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from attriflow.errors import UserError
from attriflow.evaluation.stages import (
    Stage, normal_init, randomisation_stages, randomise_stage, reset_init, resolve_stages, restore_modules,
    stage_generator,
)

from .conftest import state_of, tiny_cnn


def on_meta(factory, **kwargs):
    with torch.device("meta"):
        return factory(**kwargs)


def test_resnet50_has_the_papers_19_points():
    """fc, the 16 bottlenecks of layer4..layer1, the stem: 18 stages, 19 curve points with the original."""
    stages = randomisation_stages(on_meta(torchvision.models.resnet50))
    names = [s.name for s in stages]
    bottlenecks = [f"layer{i}.{j}" for i, n in ((4, 3), (3, 6), (2, 4), (1, 3)) for j in reversed(range(n))]
    assert names == ["fc", *bottlenecks, "conv1+bn1"]
    assert len(stages) + 1 == 19
    assert stages[-1].modules == ("conv1", "bn1")


def redrawn_parameters(model: nn.Module, stage: Stage) -> list[str]:
    names = []
    for path in stage.modules:
        module = model.get_submodule(path)
        names += [f"{path}.{n}" if path else n for n, _ in module.named_parameters(recurse=stage.recurse)]
    return names


@pytest.mark.parametrize("granularity", ["blocks", "layers"])
def test_every_parameter_belongs_to_exactly_one_stage(granularity):
    for model in (on_meta(torchvision.models.resnet18), on_meta(torchvision.models.vgg11_bn),
                  on_meta(torchvision.models.densenet121), on_meta(torchvision.models.vit_b_16),
                  TokenNet(), tiny_cnn()):
        owned = [n for stage in randomisation_stages(model, granularity) for n in redrawn_parameters(model, stage)]
        assert sorted(owned) == sorted(n for n, _ in model.named_parameters()), type(model).__name__


def test_vgg_and_densenet_blocks():
    vgg = [s.name for s in randomisation_stages(on_meta(torchvision.models.vgg11_bn))]
    assert vgg[:3] == ["classifier.6", "classifier.3", "classifier.0"]
    assert vgg[3] == "features.25+features.26" and vgg[-1] == "features.0+features.1"  # conv + its BatchNorm
    dense = [s.name for s in randomisation_stages(on_meta(torchvision.models.densenet121))]
    assert dense[:3] == ["classifier", "features.norm5", "features.denseblock4.denselayer16"]
    assert "features.transition3" in dense and dense[-1] == "features.conv0+features.norm0"


def test_small_models_and_wrappers():
    assert [s.name for s in randomisation_stages(tiny_cnn())] == ["fc", "conv2", "conv1+bn1"]
    wrapped = nn.Sequential(nn.Identity(), tiny_cnn())
    assert [s.name for s in randomisation_stages(wrapped)] == ["1.fc", "1.conv2", "1.conv1+1.bn1"]
    assert [s.modules for s in randomisation_stages(nn.Linear(4, 2))] == [("",)]


def test_layers_are_quantus_order():
    """Quantus MPRT: modules with reset_parameters in reverse registration order."""
    model = on_meta(torchvision.models.resnet18)
    quantus = [n for n, m in model.named_modules() if hasattr(m, "reset_parameters")][::-1]
    assert [s.modules[0] for s in randomisation_stages(model, "layers")] == quantus


def test_explicit_stages_are_checked():
    model = tiny_cnn()
    stages = resolve_stages(model, [["fc"], Stage("convs", ("conv2", "conv1"))])
    assert [s.name for s in stages] == ["fc", "convs"]
    with pytest.raises(UserError, match="no module 'layer9'"):
        resolve_stages(model, [["layer9"]])
    with pytest.raises(UserError, match="granularity"):
        randomisation_stages(model, "neurons")


def test_normal_init_redraws_from_n0_std_and_is_seeded():
    model = nn.Linear(400, 300)
    stage = randomisation_stages(model)[0]
    randomise_stage(model, stage, lambda m, g: normal_init(m, g, std=0.1), stage_generator(7, 1, torch.device("cpu")))
    w = model.weight.detach().clone()
    assert abs(float(w.mean())) < 0.002 and abs(float(w.std()) - 0.1) < 0.002
    randomise_stage(model, stage, lambda m, g: normal_init(m, g, std=0.1), stage_generator(7, 1, torch.device("cpu")))
    assert torch.equal(model.weight, w)
    randomise_stage(model, stage, lambda m, g: normal_init(m, g, std=0.1), stage_generator(7, 2, torch.device("cpu")))
    assert not torch.equal(model.weight, w)


def test_reset_init_is_seeded_and_leaves_the_global_rng_alone():
    model = tiny_cnn()
    stage = Stage("fc", ("fc",))
    before = torch.random.get_rng_state()
    randomise_stage(model, stage, reset_init, stage_generator(0, 1, torch.device("cpu")))
    first = model.fc.weight.detach().clone()
    assert torch.equal(torch.random.get_rng_state(), before)
    randomise_stage(model, stage, reset_init, stage_generator(0, 1, torch.device("cpu")))
    assert torch.equal(model.fc.weight, first)


def test_restore_modules_puts_back_one_stage():
    model = tiny_cnn()
    original = state_of(model)
    for stage in randomisation_stages(model):
        randomise_stage(model, stage, normal_init, stage_generator(0, 1, torch.device("cpu")))
    restore_modules(model, ("conv1", "bn1"), original)
    assert torch.equal(model.conv1.weight, original["conv1.weight"])
    assert torch.equal(model.bn1.bias, original["bn1.bias"])
    assert not torch.equal(model.fc.weight, original["fc.weight"])


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.norm = nn.LayerNorm(4)

    def forward(self, x):
        return self.norm(x + self.lin(x))


class TokenNet(nn.Module):
    """Owns a parameter besides its children (like a ViT's class token), as does its encoder."""

    def __init__(self):
        super().__init__()
        self.token = nn.Parameter(torch.ones(4))
        self.encoder = nn.Sequential(Block(), Block())
        self.encoder.register_parameter("position", nn.Parameter(torch.ones(4)))
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.encoder(x + self.token + self.encoder.position))


def test_parameters_owned_beside_children_are_a_stage_below_them():
    model = TokenNet()
    stages = randomisation_stages(model)
    assert [s.name for s in stages] == ["head", "encoder.1", "encoder.0", "encoder (own)", "model (own)"]
    assert [s.recurse for s in stages] == [True, True, True, False, False]
    vit = [s.name for s in randomisation_stages(on_meta(torchvision.models.vit_b_16))]
    assert vit[:2] == ["heads.head", "encoder.ln"] and vit[-3:] == ["encoder (own)", "conv_proj", "model (own)"]


@pytest.mark.parametrize("granularity", ["blocks", "layers"])
def test_an_own_parameter_stage_redraws_only_those(granularity):
    model = TokenNet()
    before = state_of(model)
    for name in ("model", "encoder"):
        stage = next(s for s in randomisation_stages(model, granularity) if s.name.split(" ")[0] == name)
        randomise_stage(model, stage, normal_init, stage_generator(0, 1, torch.device("cpu")))
    changed = sorted(k for k, v in model.state_dict().items() if not torch.equal(v, before[k]))
    assert changed == ["encoder.position", "token"]
