"""No variant switch is silently ignored: every alias entry of the demo config (positive-grad's
variants) and every choice of every registered method's string switch changes the map on a model
where it must (ResNet18 with random BatchNorm statistics: gradients of both signs everywhere)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from attriflow.attribution import attribute, get_method, list_methods

from .conftest import images, make_resnet18

ROOT = Path(__file__).resolve().parents[2]
TARGET = torch.tensor([1, 4])
CONFIG = yaml.safe_load((ROOT / "config/config.yaml").read_text())
ALIASES = {k: v for k, v in CONFIG["attribution"]["methods"].items() if v and "method" in v}


@pytest.fixture(scope="module")
def case():
    return make_resnet18(), images(n=2, size=64)


def _differs(a: torch.Tensor, b: torch.Tensor) -> bool:
    return float((a - b).abs().max()) > 1e-3 * float(max(a.abs().max(), b.abs().max()))


def test_the_demo_config_has_the_papers_variants():
    assert {"grad_cam_positive", "grad_cam_absolute", "grad_cam_pp_signed", "grad_cam_pp_absolute", "full_grad_signed",
            "full_grad_positive", "rectgrad_abs"} <= set(ALIASES)
    assert set(CONFIG["papers"]["positive-grad"]["methods"]) <= set(CONFIG["attribution"]["methods"])


@pytest.mark.parametrize("entry", sorted(ALIASES))
def test_every_alias_entry_changes_the_map_of_its_method(case, entry):
    model, x = case
    spec = dict(ALIASES[entry])
    method = spec.pop("method")
    base = attribute(model, x, TARGET, method)
    assert float(base.abs().max()) > 0
    assert _differs(attribute(model, x, TARGET, method, **spec), base), f"{entry}: {spec} left the map unchanged"


SWITCHES = sorted(
    (name, param, choice)
    for name in list_methods()
    for param, p in get_method(name).params.items() if p.choices
    for choice in p.choices if choice != p.default
)


@pytest.mark.parametrize(("method", "param", "choice"), SWITCHES)
def test_every_choice_of_every_switch_changes_the_map(case, method, param, choice):
    model, x = case
    assert _differs(attribute(model, x, TARGET, method, **{param: choice}), attribute(model, x, TARGET, method))


def test_propagation_rules_all_differ(case):
    model, x = case
    names = ["gradient", "guided_backprop", "deconvnet", "rectgrad", "lrp_epsilon", "lrp_zplus", "lrp_alpha1beta0",
             "lrp_alpha2beta1"]
    maps = {n: attribute(model, x, TARGET, n) for n in names}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert _differs(maps[a], maps[b]), (a, b)


@pytest.mark.parametrize("method", ["grad_cam", "grad_cam_pp"])
def test_grad_cam_relu_switch(case, method):
    """GradCAM's ReLU (both papers apply it; Captum only when asked): off, negative evidence shows."""
    model, x = case
    with_relu = attribute(model, x, TARGET, method, aggregation="signed")
    without = attribute(model, x, TARGET, method, aggregation="signed", relu=False)
    assert float(with_relu.min()) >= 0 > float(without.min())
    assert _differs(with_relu, without)
