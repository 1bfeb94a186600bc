"""Methods and models from outside the package: the example package installed with pip works like a
built-in (entry points, attribution.extra), and every kind of broken plug-in is refused by name."""

from __future__ import annotations

import pytest
import torch

from attriflow.attribution import attribute, describe_methods, get_method, list_methods
from attriflow.errors import UserError
from attriflow.models import create_model
from attriflow.plugins import (
    PluginError, check_plugins, check_workflow_config, external_methods, load_external_methods,
)

from .conftest import plant


@pytest.fixture
def example(example_site, monkeypatch):
    monkeypatch.syspath_prepend(str(example_site))
    return example_site


@pytest.fixture
def model_and_images():
    torch.manual_seed(0)
    model = create_model("resnet8", num_classes=4).eval()
    x = torch.rand(6, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    return model, x, torch.tensor([0, 1, 2, 3, 0, 1])


def test_the_installed_example_is_listed_with_its_parameter_and_origin(example):
    assert "gradient_x_smoothed" in list_methods()
    text = describe_methods(["gradient_x_smoothed"])
    assert "sigma" in text and "1.0" in text and "plug-in, entry point attriflow.methods" in text
    assert external_methods()["gradient_x_smoothed"].origin.endswith("attriflow_example.method:gradient_x_smoothed")


def test_the_example_at_sigma_0_is_input_x_gradient_and_smooths_otherwise(example, model_and_images):
    model, x, t = model_and_images
    plain = attribute(model, x, t, "input_x_gradient", reduce=None)
    assert torch.allclose(attribute(model, x, t, "gradient_x_smoothed", sigma=0.0, reduce=None), plain, atol=1e-6)
    smooth = attribute(model, x, t, "gradient_x_smoothed", sigma=2.0, reduce=None)
    grad = attribute(model, x, t, "gradient", reduce=None)
    ratio = smooth / grad.where(grad.abs() > 1e-8, torch.ones_like(grad))
    # the factor is a blurred input: its pixel-to-pixel variation is far below the input's
    assert ratio.diff(dim=-1).abs().mean() < 0.5 * x.diff(dim=-1).abs().mean()


def test_the_example_is_batched_and_leaves_the_model_as_it_was(example, model_and_images):
    model, x, t = model_and_images
    state = {k: v.clone() for k, v in model.state_dict().items()}
    whole = attribute(model, x, t, "gradient_x_smoothed")
    chunked = attribute(model, x, t, "gradient_x_smoothed", batch_size=2)
    assert whole.shape == (6, 16, 16) and torch.allclose(whole, chunked, atol=1e-6)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())
    with pytest.raises(Exception, match="unknown parameter"):
        attribute(model, x, t, "gradient_x_smoothed", sigmaa=1.0)


def test_the_example_model_is_built_by_name_and_loads_a_weights_file(example, tmp_path):
    model = create_model("tiny_cnn", num_classes=4, width=8).eval()
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 4)
    torch.save(model.state_dict(), tmp_path / "tiny.pt")
    again = create_model("plugin:tiny_cnn", num_classes=4, width=8, init=str(tmp_path / "tiny.pt"))
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in model.state_dict().items())
    assert [p.name for p in check_plugins([])] == ["gradient_x_smoothed", "tiny_cnn"]


def test_a_config_extra_registers_a_plain_function(tmp_path, monkeypatch, model_and_images):
    plant(tmp_path, "planted-extra", {"planted_extra": '''
        def half_gradient(model, x, target, *, factor: float = 0.5):
            """factor x gradient

            factor: multiplies the gradient
            """
            from attriflow.attribution import input_gradient
            return factor * input_gradient(model, x, target)
    '''})
    monkeypatch.syspath_prepend(str(tmp_path))
    config = {"attribution": {"extra": ["planted_extra:half_gradient"], "methods": {"half": {"method": "half_gradient"}}},
              "benchmark": {"methods": ["half", "gradient"]}}
    assert [p.name for p in check_workflow_config(config)] == ["half_gradient"]
    model, x, t = model_and_images
    assert torch.allclose(attribute(model, x, t, "half_gradient", factor=2.0), 2 * attribute(model, x, t, "gradient"))


BROKEN = {
    "import error": ('import no_such_dependency_of_the_plugin\ndef m(model, x, target):\n    return x\n',
                     r"'planted_m'.*failed to import: ModuleNotFoundError: No module named 'no_such_dependency"),
    "wrong signature": ('def m(model, x):\n    return x\n', r"'planted_m'.*wrong signature .*\(model, x\)"),
    "required keyword": ('def m(model, x, target, *, k):\n    return x\n', r"'planted_m'.*wrong signature"),
    "undocumented parameter": ('def m(model, x, target, *, k=1):\n    return x\n', r"'planted_m'.*parameter 'k' has no doc"),
    "wrong output shape": ('def m(model, x, target):\n    return x.sum(1)\n',
                           r"'planted_m'.*returned \(2, 16, 16\).*must return \(2, 3, 16, 16\)"),
    "non-finite output": ('def m(model, x, target):\n    return x / 0\n', r"'planted_m'.*non-finite"),
    "changes the weights": ('def m(model, x, target):\n    next(model.parameters()).data.mul_(2)\n    return x\n',
                            r"'planted_m' .*changes the model.*values of conv1.weight"),
    "leaves a hook": ('def m(model, x, target):\n    model.register_forward_hook(lambda *a: None)\n    return x\n',
                      r"'planted_m' .*changes the model.*hooks of the model"),
    "train mode": ('def m(model, x, target):\n    model.train()\n    return x\n', r"'planted_m' .*changes the model.*train/eval"),
    "raises": ('def m(model, x, target):\n    raise RuntimeError("boom")\n', r"'planted_m'.*failed on a probe.*RuntimeError: boom"),
}


@pytest.mark.parametrize("kind", list(BROKEN))
def test_a_broken_method_entry_point_is_refused_by_name(kind, tmp_path, monkeypatch):
    source, message = BROKEN[kind]
    plant(tmp_path, "planted-broken", {"planted_broken": source},
          {"attriflow.methods": {"planted_m": "planted_broken:m"}})
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError, match=message):
        check_plugins([])


def test_a_broken_extra_is_refused_by_its_spec(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    plant(tmp_path, "planted-x", {"planted_x": "def m(model, x):\n    return x\n"})
    with pytest.raises(PluginError, match=r"'m' \(attribution.extra: planted_x:m\).*wrong signature"):
        load_external_methods(["planted_x:m"])
    with pytest.raises(PluginError, match=r"attribution.extra: 'planted x' is not of the form"):
        check_workflow_config({"attribution": {"extra": ["planted x"]}})
    with pytest.raises(PluginError, match=r"planted_x:nothing.*AttributeError"):
        load_external_methods(["planted_x:nothing"])


def test_a_plugin_cannot_take_a_built_in_name(tmp_path, monkeypatch):
    plant(tmp_path, "planted-clash", {"planted_clash": "def gradient(model, x, target):\n    return x\n"})
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError, match=r"'gradient'.*already taken"):
        load_external_methods(["planted_clash:gradient"])
    assert get_method("gradient").description.startswith("vanilla gradient")


@pytest.mark.parametrize("source, message", [
    ("def f(num_classes, in_chans):\n    import torch\n    return torch.nn.Linear(3, num_classes)\n",
     r"'planted_net'.*failed on 2 images"),
    ("def f(num_classes, in_chans):\n    import torch\n    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(7))\n",
     r"'planted_net'.*returned \(2, 7\).*expected logits \(2, 3\)"),
    ("def f(depth):\n    return None\n", r"'planted_net'.*wrong signature"),
    ("raise ImportError('no torch here')\n", r"'planted_net'.*failed to import: ImportError: no torch here"),
])
def test_a_broken_model_entry_point_is_refused_by_name(source, message, tmp_path, monkeypatch):
    plant(tmp_path, "planted-net", {"planted_net": source}, {"attriflow.models": {"planted_net": "planted_net:f"}})
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError, match=message):
        check_plugins([])


def test_benchmark_runs_must_be_runs_of_the_config():
    config = {"runs": {"a": {}}, "attribution": {"methods": {}}, "benchmark": {"methods": ["gradient"], "runs": ["a", "b"]}}
    with pytest.raises(UserError, match=r"benchmark.runs: \['b'\] are not runs of this config; valid: a"):
        check_workflow_config(config)
    with pytest.raises(UserError, match=r"benchmark.methods: 'two words'"):
        check_workflow_config({**config, "benchmark": {"methods": ["two words"], "runs": ["a"]}})
