"""The registry and the validation of attribute()'s inputs: clear errors listing what is valid."""

from __future__ import annotations

import pytest
import torch

from attriflow.attribution import (
    attribute, describe_methods, get_method, list_methods, register_method, unregister_method,
)
from attriflow.cli import main
from attriflow.errors import UserError

from .conftest import images, make_vgg

ISSUE_METHODS = {
    "gradient", "input_x_gradient", "integrated_gradients", "smoothgrad", "guided_backprop", "deconvnet",
    "rectgrad", "lrp_epsilon", "lrp_zplus", "lrp_alpha1beta0", "lrp_alpha2beta1", "grad_cam", "grad_cam_pp", "full_grad", "random",
}


@pytest.fixture(scope="module")
def model():
    return make_vgg()


def test_every_method_of_the_issue_is_registered_with_documented_parameters():
    assert ISSUE_METHODS <= set(list_methods())
    for name in list_methods():
        m = get_method(name)
        assert m.description and all(p.doc for p in m.params.values())
    assert {"steps", "batch_size", "fast"} <= set(get_method("integrated_gradients").params)
    assert {"samples", "noise", "base", "squared"} <= set(get_method("smoothgrad").params)
    assert "layer" in get_method("grad_cam").params and "q" in get_method("rectgrad").params


def test_methods_command_prints_every_name_with_its_parameters(capsys):
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    for name in list_methods():
        assert f"\n{name}: " in out
        for p in get_method(name).params.values():
            assert p.name in out and repr(p.default) in out
    assert main(["methods", "grad_cam"]) == 0
    out = capsys.readouterr().out
    assert "grad_cam:" in out and "integrated_gradients:" not in out


def test_methods_command_reports_an_unknown_name(capsys):
    assert main(["methods", "gradcam"]) == 1
    err = capsys.readouterr().err
    assert "gradcam" in err and "grad_cam" in err


def test_unknown_method_lists_the_valid_names(model):
    with pytest.raises(UserError) as err:
        attribute(model, images(), 0, "saliency")
    assert "saliency" in str(err.value)
    assert all(name in str(err.value) for name in ISSUE_METHODS)


def test_unknown_parameter_lists_the_valid_ones(model):
    with pytest.raises(UserError) as err:
        attribute(model, images(), 0, "integrated_gradients", n_steps=5)
    msg = str(err.value)
    assert "n_steps" in msg and "steps" in msg and "baseline" in msg and "batch_size" in msg
    with pytest.raises(UserError, match="'steps'"):
        attribute(model, images(), 0, "gradient", steps=5)


def test_bad_values_list_the_valid_choices(model):
    with pytest.raises(UserError, match="gausslegendre") as err:
        attribute(model, images(), 0, "integrated_gradients", integration="simpson")
    assert "riemann_trapezoid" in str(err.value)
    with pytest.raises(UserError, match="positive"):
        attribute(model, images(), 0, "grad_cam", aggregation="mean")
    with pytest.raises(UserError, match="'max_abs'"):
        attribute(model, images(), 0, "gradient", reduce="max")
    with pytest.raises(UserError, match="integer"):
        attribute(model, images(), 0, "integrated_gradients", steps=2.5)
    with pytest.raises(UserError, match="True or False"):
        attribute(model, images(), 0, "smoothgrad", squared="yes")
    with pytest.raises(UserError, match="batch_size"):
        attribute(model, images(), 0, "gradient", batch_size=0)
    with pytest.raises(UserError, match="q must be"):
        attribute(model, images(), 0, "rectgrad", q=120.0)
    with pytest.raises(UserError, match="unknown layer 'features.99'.*features.0"):
        attribute(model, images(), 0, "grad_cam", layer="features.99")
    with pytest.raises(UserError, match="4-D"):
        attribute(model, images(), 0, "grad_cam", layer="classifier.0")


def test_wrong_inputs_are_rejected(model):
    with pytest.raises(UserError, match=r"4-D \(N, C, H, W\).*\(3, 32, 32\)"):
        attribute(model, images()[0], 0, "gradient")
    with pytest.raises(UserError, match="floating"):
        attribute(model, images().long(), 0, "gradient")
    with pytest.raises(UserError, match="no images"):
        attribute(model, images()[:0], 0, "gradient")
    with pytest.raises(UserError, match="out of range.*10 outputs"):
        attribute(model, images(), 10, "gradient")
    with pytest.raises(UserError, match=r"shape \(3,\)"):
        attribute(model, images(), torch.tensor([1, 2]), "gradient")
    with pytest.raises(UserError, match="integer class"):
        attribute(model, images(), torch.tensor([1.0, 2.0, 3.0]), "gradient")


def test_smoothgrad_accepts_and_validates_its_base_methods_parameters(model):
    x = images(n=2)
    out = attribute(model, x, 0, "smoothgrad", base="integrated_gradients", steps=3, samples=2, noise=0.0)
    torch.testing.assert_close(out, attribute(model, x, 0, "integrated_gradients", steps=3), rtol=1e-5, atol=1e-7)
    with pytest.raises(UserError, match="with base 'grad_cam'.*'steps'.*layer"):
        attribute(model, x, 0, "smoothgrad", base="grad_cam", steps=3)
    with pytest.raises(UserError, match="unknown base method 'nope'.*rectgrad"):
        attribute(model, x, 0, "smoothgrad", base="nope")
    with pytest.raises(UserError, match="cannot itself take a base"):
        attribute(model, x, 0, "smoothgrad", base="smoothgrad")


def test_another_module_can_register_a_method():
    @register_method("test_scaled_gradient", description="gradient times a constant (test only)",
                     docs={"factor": "multiplier"})
    def scaled(model, x, target, *, factor: float = 2.0, sparsity: float = 50.0):
        from attriflow.attribution import input_gradient

        return factor * input_gradient(model, x, target)

    try:
        model, x = make_vgg(), images(n=2)
        assert "test_scaled_gradient" in list_methods()
        assert "factor" in describe_methods(["test_scaled_gradient"]) and "sparsity" in describe_methods()
        torch.testing.assert_close(attribute(model, x, 1, "test_scaled_gradient", factor=3.0),
                                   3.0 * attribute(model, x, 1, "gradient"))
        with pytest.raises(ValueError, match="already registered"):
            register_method("test_scaled_gradient", description="again")(scaled)
    finally:
        unregister_method("test_scaled_gradient")
    assert "test_scaled_gradient" not in list_methods()
    with pytest.raises(TypeError, match="no doc"):
        register_method("test_undocumented", description="x")(lambda model, x, target, *, mystery=1: x)
    assert "test_undocumented" not in list_methods()
