"""Class sensitivity: other classes chosen as specified, class-blind maps score 1, equality with Quantus' RandomLogit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from attriflow.errors import UserError
from attriflow.evaluation.class_sensitivity import COLUMNS, class_sensitivity, other_classes, random_other_class

from .conftest import edges, gradient, images, linear_model, quiet_quantus, tiny_cnn


def test_other_classes():
    logits = torch.tensor([[0.0, 5.0, -1.0, 2.0], [3.0, 1.0, 2.0, -4.0]])
    others = other_classes(logits, seed=0)
    assert others["lowest"].tolist() == [2, 3]
    target = torch.randint(0, 10, (500,), generator=torch.Generator().manual_seed(0))
    drawn = random_other_class(target, 10, seed=3)
    assert (drawn != target).all() and drawn.min() >= 0 and drawn.max() <= 9
    assert set(drawn.tolist()) == set(range(10))  # every class can be drawn
    assert torch.equal(drawn, random_other_class(target, 10, seed=3))
    with pytest.raises(UserError, match="comparison 'highest'"):
        other_classes(logits, ("highest",))


def test_class_blind_maps_score_one_class_specific_maps_do_not():
    torch.manual_seed(0)
    model = linear_model(torch.randn(6, 3, 16, 16))
    x = images(5, size=16)
    df = class_sensitivity(model, x, {"gradient": gradient, "edges": edges}, measures=("ssim", "spearman"), seed=1)
    assert list(df.columns) == COLUMNS
    assert len(df) == 5 * 2 * 2 * 2  # images x methods x comparisons x measures
    np.testing.assert_allclose(df[df.method == "edges"].value, 1.0, atol=1e-9)
    assert df[(df.method == "gradient") & (df.measure == "ssim")].value.max() < 0.5
    assert (df.other_class != df.target).all()
    logits = model(x)
    lowest = df[(df.method == "gradient") & (df.comparison == "lowest") & (df.measure == "ssim")]
    assert lowest.other_class.tolist() == logits.argmin(1).tolist()
    assert lowest.target.tolist() == logits.argmax(1).tolist()


def test_given_logits_skip_the_forward_and_chunks_agree():
    model = tiny_cnn()
    x = images(5, size=16)
    logits = model(x).detach()
    calls = []
    model.register_forward_pre_hook(lambda m, inp: calls.append(len(inp[0])))
    a = class_sensitivity(model, x, {"g": gradient}, logits=logits, batch_size=2)
    assert sum(calls) == 5 * 3  # one gradient per image and class (predicted, lowest, random), no extra forward
    b = class_sensitivity(model, x, {"g": gradient}, batch_size=64)
    np.testing.assert_allclose(a.value, b.value, atol=1e-6)


def test_given_predicted_maps_replace_their_explanation():
    model, x = tiny_cnn(), images(5, size=16)
    logits = model(x).detach()
    classes = []

    def counted(m, xx, t):
        classes.append(t.clone())
        return gradient(m, xx, t)

    given = class_sensitivity(model, x, {"g": counted}, logits=logits,
                              predicted_maps={"g": gradient(model, x, logits.argmax(1))})
    assert len(classes) == 2 and not any(torch.equal(c, logits.argmax(1)) for c in classes)  # lowest, random only
    computed = class_sensitivity(model, x, {"g": gradient}, logits=logits)
    np.testing.assert_allclose(given.value, computed.value, atol=1e-6)
    with pytest.raises(UserError, match="predicted_maps has maps of"):
        class_sensitivity(model, x, {"g": gradient}, predicted_maps={"other": torch.zeros(5, 16, 16)})


def test_same_values_as_quantus_random_logit():
    quantus = quiet_quantus()
    model = tiny_cnn(seed=1, classes=7)
    x = images(6, size=16, seed=2)
    y = model(x).argmax(1)

    def explain(model, inputs, targets, **kwargs):
        return gradient(model, torch.as_tensor(inputs), torch.as_tensor(targets).long()).numpy()[:, None]

    def per_map_max(a, **kwargs):
        return a / np.abs(a).reshape(len(a), -1).max(1).reshape(-1, *[1] * (a.ndim - 1))

    def ssim_2d(a, b, batched=True, **kwargs):  # Quantus hands over flattened maps
        return [structural_similarity(p.reshape(16, 16), q.reshape(16, 16), win_size=5, data_range=2.0)
                for p, q in zip(a, b)]

    metric = quantus.RandomLogit(num_classes=7, similarity_func=ssim_2d, seed=11, abs=False, normalise=True,
                                 normalise_func=per_map_max, disable_warnings=True)
    ref = metric(model=model, x_batch=x.numpy(), y_batch=y.numpy(), a_batch=None, explain_func=explain,
                 device="cpu", batch_size=64)
    ours = class_sensitivity(model, x, {"gradient": gradient}, comparisons=("random",), seed=11)
    np.testing.assert_allclose(ours.value, ref, atol=1e-6)
