"""Cascading / independent parameter randomisation: what decorrelates, what must not, and equality with Quantus' MPRT."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from attriflow.errors import UserError
from attriflow.evaluation.randomisation import COLUMNS, randomisation_test, stage_names

from .conftest import assert_state_equal, edges, gradient, images, linear_model, quiet_quantus, state_of, tiny_cnn

MEASURES = ("ssim", "spearman", "spearman_abs", "hog")


def last_stage(df: pd.DataFrame, method: str, measure: str) -> np.ndarray:
    part = df[(df.method == method) & (df.measure == measure)]
    return part[part.stage == part.stage.max()].value.to_numpy()


def test_linear_gradient_decorrelates_while_edge_detector_stays_at_one():
    torch.manual_seed(0)
    model = linear_model(torch.randn(4, 3, 32, 32))
    x = images(8, size=32)
    df = randomisation_test(model, x, None, {"gradient": gradient, "edges": edges}, seed=3, measures=MEASURES)
    assert sorted(df.stage.unique()) == [0, 1]
    for measure in MEASURES:
        np.testing.assert_allclose(df[df.method == "edges"].query("measure == @measure").value, 1.0, atol=1e-9)
    rho = last_stage(df, "gradient", "spearman")
    assert np.abs(rho).max() < 0.15 and abs(rho.mean()) < 0.1, rho
    assert np.abs(last_stage(df, "gradient", "spearman_abs")).max() < 0.15
    np.testing.assert_allclose(df[(df.method == "gradient") & (df.stage == 0)].value, 1.0, atol=1e-9)


def test_cnn_cascade_gradient_decorrelates_edges_do_not():
    model = tiny_cnn()
    x = images(6, size=16)
    df = randomisation_test(model, x, None, {"gradient": gradient, "edges": edges}, seed=0)
    assert list(dict.fromkeys(df.layer)) == ["original", "fc", "conv2", "conv1+bn1"]
    assert list(df.columns) == COLUMNS
    assert len(df) == 6 * 2 * 4 * len(MEASURES)  # image x method x (stages + original) x measure
    np.testing.assert_allclose(df[df.method == "edges"].value, 1.0, atol=1e-9)
    assert abs(last_stage(df, "gradient", "spearman").mean()) < 0.2
    assert last_stage(df, "gradient", "ssim").mean() < 0.5


def test_model_unchanged_and_chunking_does_not_change_values():
    model = tiny_cnn()
    before, training = state_of(model), model.training
    x = images(5, size=16)
    whole = randomisation_test(model, x, 2, {"gradient": gradient}, seed=1, batch_size=64)
    chunked = randomisation_test(model, x, 2, {"gradient": gradient}, seed=1, batch_size=2)
    assert_state_equal(model, before)
    assert model.training == training
    pd.testing.assert_frame_equal(whole.drop(columns="value"), chunked.drop(columns="value"))
    np.testing.assert_allclose(whole.value, chunked.value, atol=1e-6)


def test_independent_order_redraws_one_stage_with_the_cascades_weights():
    model = tiny_cnn()
    x = images(4, size=16)
    cascade = randomisation_test(model, x, None, {"gradient": gradient}, seed=5, measures=("spearman",))
    single = randomisation_test(model, x, None, {"gradient": gradient}, seed=5, measures=("spearman",),
                                order="independent")
    assert (single.order == "independent").all()
    # stage 1 is the same model in both orders; later stages differ (only one stage re-drawn)
    np.testing.assert_allclose(single[single.stage == 1].value, cascade[cascade.stage == 1].value, atol=1e-9)
    assert not np.allclose(single[single.stage == 3].value, cascade[cascade.stage == 3].value)


def test_other_seed_other_weights():
    model = tiny_cnn()
    x = images(3, size=16)
    a = randomisation_test(model, x, None, {"g": gradient}, seed=0, measures=("spearman",))
    b = randomisation_test(model, x, None, {"g": gradient}, seed=1, measures=("spearman",))
    assert not np.allclose(a[a.stage > 0].value, b[b.stage > 0].value)


def test_stage_names():
    assert stage_names(tiny_cnn()) == ["original", "fc", "conv2", "conv1+bn1"]


def test_bad_input_is_named():
    model, x = tiny_cnn(), images(2, size=16)
    with pytest.raises(UserError, match="order 'sideways'"):
        randomisation_test(model, x, None, {"g": gradient}, order="sideways")
    with pytest.raises(UserError, match="explainer 'chan' output"):
        randomisation_test(model, x, None, {"chan": lambda m, xx, t: xx})
    with pytest.raises(UserError, match="init"):
        randomisation_test(model, x, None, {"g": gradient}, init="xavier")


def numpy_explainer(model, inputs, targets, **kwargs):
    x = torch.as_tensor(inputs, dtype=torch.float32)
    return gradient(model, x, torch.as_tensor(targets).long()).numpy()[:, None]


def quantus_reset(module, generator):
    """Quantus 0.6 MPRT's re-draw: ``torch.manual_seed(seed + 1)`` then the layer's ``reset_parameters``."""
    torch.manual_seed(43)
    module.reset_parameters()


@pytest.mark.parametrize("order", ["cascading", "independent"])
def test_same_values_as_quantus_mprt(order):
    quantus = quiet_quantus()
    model = tiny_cnn(seed=2)
    x = images(4, size=16, seed=3)
    y = model(x).argmax(1)
    rng = torch.random.get_rng_state()
    metric = quantus.MPRT(layer_order="top_down" if order == "cascading" else "independent", seed=42, abs=True,
                          normalise=True, similarity_func=quantus.similarity_func.correlation_spearman,
                          disable_warnings=True)
    ref = metric(model=model, x_batch=x.numpy(), y_batch=y.numpy(), a_batch=None, explain_func=numpy_explainer,
                 device="cpu", batch_size=64)
    torch.random.set_rng_state(rng)
    ours = randomisation_test(model, x, y, {"gradient": gradient}, order=order, stages="layers", init=quantus_reset,
                              measures=("spearman_abs",))
    layers = [k for k in ref if k != "original"]
    # Quantus' independent order runs bottom-up; each layer's value does not depend on the order
    assert list(dict.fromkeys(ours.layer))[1:] == (layers if order == "cascading" else layers[::-1])
    for layer in layers:
        np.testing.assert_allclose(ours[ours.layer == layer].value, ref[layer], atol=1e-6, err_msg=layer)
    np.testing.assert_allclose(ours[ours.stage == 0].value, ref["original"], atol=1e-6)


def test_one_explanation_per_stage_and_chunk_whatever_the_measures():
    model, x = tiny_cnn(), images(5, size=16)
    calls = []

    def counted(m, xx, t):
        calls.append(len(xx))
        return gradient(m, xx, t)

    randomisation_test(model, x, None, {"g": counted}, measures=MEASURES, batch_size=3)
    assert calls == [3] * 4 + [2] * 4  # (3 stages + original) per chunk of at most 3 images


def test_given_original_maps_replace_the_first_explanation():
    model, x = tiny_cnn(), images(5, size=16)
    target = model(x).argmax(1)
    calls = []

    def counted(m, xx, t):
        calls.append(len(xx))
        return gradient(m, xx, t)

    computed = randomisation_test(model, x, target, {"g": gradient}, batch_size=2)
    given = randomisation_test(model, x, target, {"g": counted}, original_maps={"g": gradient(model, x, target)},
                               batch_size=2)
    assert calls == [2] * 3 + [2] * 3 + [1] * 3  # 3 stages per chunk, no explanation of the trained model
    pd.testing.assert_frame_equal(computed, given, check_exact=False, atol=1e-6)
    with pytest.raises(UserError, match=r"original_maps has maps of \['h'\] but no explainer"):
        randomisation_test(model, x, target, {"g": gradient}, original_maps={"h": torch.zeros(5, 16, 16)})
    with pytest.raises(UserError, match=r"original_maps\['g'\]"):
        randomisation_test(model, x, target, {"g": gradient}, original_maps={"g": torch.zeros(4, 16, 16)})


def test_retarget_explains_each_randomised_models_prediction():
    model, x = tiny_cnn(classes=7), images(6, size=16)
    seen = []

    def recording(m, xx, t):
        seen.append((t.clone(), m(xx).argmax(1)))
        return gradient(m, xx, t)

    fixed = randomisation_test(model, x, None, {"g": gradient}, measures=("spearman",))
    df = randomisation_test(model, x, None, {"g": recording}, measures=("spearman",), retarget=True)
    for explained, predicted in seen:
        assert torch.equal(explained, predicted)
    assert (fixed.target == model(x).argmax(1).numpy()[fixed.image]).all()
    last = df[df.stage == df.stage.max()]
    assert not (last.target.to_numpy() == fixed[fixed.stage == 0].target.to_numpy()).all()  # the class changed
