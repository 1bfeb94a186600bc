"""Every head kind through attribute() and every evaluation: the right probability (softmax,
sigmoid, softmax within a zone), the right class scores, or a clear refusal."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attriflow.attribution import attribute, attribute_with_predictions
from attriflow.errors import UserError
from attriflow.evaluation.class_sensitivity import class_sensitivity
from attriflow.evaluation.explainers import method_explainer
from attriflow.evaluation.localisation import localisation
from attriflow.evaluation.perturbation import pixel_perturbation
from attriflow.evaluation.randomisation import randomisation_test
from attriflow.models import heads

from .conftest import WIDTHS, images, net

HEADS = tuple(WIDTHS)
GRADIENT = {"gradient": method_explainer("gradient")}
# an explicit target per head (zones: class 3 of zone 2; binary: the positive class)
TARGET = {"multiclass": 2, "binary": 1, "multilabel": 3, "regression": 0, "zones": 4 * 2 + 3}


def grad_of(model, x, score):
    """Channel-summed d score(model(x)) / dx."""
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(score(model(x)).sum(), x)
    return g.sum(1)


def test_head_kinds_are_the_tasks_models_train():
    from attriflow.data.imageset import TASKS

    assert set(heads.HEADS) == set(TASKS)


@pytest.mark.parametrize("head", HEADS)
def test_probability_of_each_head(head):
    z = torch.randn(5, WIDTHS[head], generator=torch.Generator().manual_seed(0))
    if head == "regression":
        with pytest.raises(UserError, match="regression head has no class probability"):
            heads.probabilities(head, z)
        return
    p = heads.probabilities(head, z)
    expected = {
        "multiclass": lambda: torch.softmax(z, 1),
        "binary": lambda: torch.cat([torch.sigmoid(-z), torch.sigmoid(z)], 1),
        "multilabel": lambda: torch.sigmoid(z),
        "zones": lambda: torch.softmax(z.reshape(5, 6, 4), 2).reshape(5, 24),
    }[head]()
    torch.testing.assert_close(p, expected)


def test_one_output_is_never_softmaxed():
    """The defect found in review: softmax over one logit is 1 whatever the input."""
    with pytest.raises(UserError, match="head='binary'"):
        heads.probabilities("multiclass", torch.randn(3, 1))


@pytest.mark.parametrize("head", HEADS)
def test_attribute_explains_the_score_of_the_head(head):
    model, x = net(head), images()
    z = model(x).detach()
    t = TARGET[head]
    expected = grad_of(model, x, lambda out: out[:, 0] if head == "binary" else out[:, t])
    torch.testing.assert_close(attribute(model, x, t, "gradient", head=head), expected)
    if head == "binary":  # class 0 explains the negated logit, and None is the predicted class
        torch.testing.assert_close(attribute(model, x, 0, "gradient", head=head), -expected)
        rec = attribute_with_predictions(model, x, None, "gradient", head=head)
        assert torch.equal(rec.targets, (z[:, 0] > 0).long())
        assert rec.params["head"] == "binary"
        with pytest.raises(UserError, match="out of range"):
            attribute(model, x, 2, "gradient", head=head)
    if head == "zones":
        with pytest.raises(UserError, match="zone"):
            attribute(model, x, None, "gradient", head=head)
    if head == "multilabel":
        rec = attribute_with_predictions(model, x, None, "gradient", head=head)
        assert torch.equal(rec.targets, z.argmax(1))
    if head == "regression":
        torch.testing.assert_close(attribute(model, x, None, "gradient", head=head), expected)


def test_attribute_leaves_no_hook_behind_on_error():
    model, x = net("binary"), images()
    with pytest.raises(UserError):
        attribute(model, x, 5, "gradient", head="binary")
    assert not model._forward_hooks
    assert model(x).shape == (len(x), 1)


@pytest.mark.parametrize("head", HEADS)
def test_pixel_perturbation_uses_the_head_probability(head):
    model, x = net(head), images()
    z = model(x).detach()
    maps = {"gradient": attribute(model, x, TARGET[head], "gradient", head=head)}
    if head == "regression":
        with pytest.raises(UserError, match="regression head"):
            pixel_perturbation(model, x, maps, TARGET[head], head=head)
        return
    df = pixel_perturbation(model, x, maps, TARGET[head], fractions=(0.1, 0.5), head=head)
    p0 = heads.probabilities(head, z)[:, TARGET[head]].numpy()
    first = df[(df.order == "morf") & (df.fraction == 0.1)].sort_values("image")
    np.testing.assert_allclose(first["p_original"].to_numpy(), p0, rtol=1e-5)
    assert (df["p_original"] < 1).all()  # a one-logit softmax would give exactly 1
    assert (df["rel_change"] > 0).any()  # and every change would be 0


def test_pixel_perturbation_default_target_of_a_binary_head_is_the_predicted_class():
    model, x = net("binary"), images()
    z = model(x).detach()[:, 0]
    maps = {"gradient": attribute(model, x, None, "gradient", head="binary")}
    df = pixel_perturbation(model, x, maps, None, fractions=(0.1,), orders=("morf",), head="binary")
    np.testing.assert_allclose(df.sort_values("image")["p_original"].to_numpy(),
                               torch.sigmoid(z.abs()).numpy(), rtol=1e-5)  # the predicted class's probability


@pytest.mark.parametrize("head", HEADS)
def test_class_sensitivity_per_head(head):
    model, x = net(head), images()
    z = model(x).detach()
    if head in ("regression", "zones"):
        with pytest.raises(UserError, match=f"a {head} head has none"):
            class_sensitivity(model, x, GRADIENT, head=head, measures=("spearman",))
        return
    df = class_sensitivity(model, x, GRADIENT, head=head, measures=("spearman",))
    predicted = (z[:, 0] > 0).long() if head == "binary" else z.argmax(1)
    for comparison, part in df.groupby("comparison"):
        part = part.sort_values("image")
        assert np.array_equal(part["target"].to_numpy(), predicted.numpy())
        assert (part["other_class"].to_numpy() != part["target"].to_numpy()).all()
        if head == "binary":  # the other class of a binary head is the negated logit: rank correlation -1
            assert np.array_equal(part["other_class"].to_numpy(), 1 - predicted.numpy())
            np.testing.assert_allclose(part["value"].to_numpy(), -1.0, atol=1e-6)


@pytest.mark.parametrize("head", HEADS)
def test_randomisation_per_head(head):
    model, x = net(head), images()
    z = model(x).detach()
    target = TARGET[head] if head == "zones" else None
    df = randomisation_test(model, x, target, GRADIENT, measures=("spearman",), head=head)
    expected = {"binary": (z[:, 0] > 0).long(), "regression": torch.zeros(len(x), dtype=torch.long),
                "zones": torch.full((len(x),), TARGET["zones"])}.get(head, z.argmax(1))
    assert np.array_equal(df[df.stage == 0].sort_values("image")["target"].to_numpy(), expected.numpy())
    np.testing.assert_allclose(df[df.stage == 0]["value"].to_numpy(), 1.0)
    assert (df[df.stage > 0]["value"] < 0.999).any()  # randomised weights change the maps
    if head == "zones":
        with pytest.raises(UserError, match="zone"):
            randomisation_test(model, x, None, GRADIENT, measures=("spearman",), head=head)
    with pytest.raises(UserError, match="out of range"):
        randomisation_test(model, x, WIDTHS[head] + 1, GRADIENT, measures=("spearman",), head=head)


@pytest.mark.parametrize("head", HEADS)
def test_localisation_of_each_head_finds_the_planted_pixels(head):
    """A model that only looks at a 3x3 patch: the patch holds every map's peak and relevance mass."""
    model, x = net(head), images()
    mask = torch.zeros(len(x), 12, 12, dtype=torch.bool)
    mask[:, 4:7, 4:7] = True
    inner = model.forward

    def patched(inp):
        return inner(inp * mask[:1, None].to(inp.dtype))

    model.forward = patched
    try:
        maps = attribute(model, x, TARGET[head], "gradient", head=head, absolute=True)
    finally:
        del model.forward
    df = localisation({"gradient": maps}, mask)
    assert (df["pointing_game"] == 1).all()
    np.testing.assert_allclose(df["relevance_mass"].to_numpy(), 1.0)


def test_explainer_sees_class_scores_of_a_binary_head():
    model, x = net("binary"), images()
    from attriflow.evaluation.batching import explain_checked

    ones, zeros = torch.ones(len(x), dtype=torch.long), torch.zeros(len(x), dtype=torch.long)
    pos = explain_checked(GRADIENT["gradient"], "gradient", model, x, ones, "binary")
    neg = explain_checked(GRADIENT["gradient"], "gradient", model, x, zeros, "binary")
    torch.testing.assert_close(neg, -pos)
    assert not model._forward_hooks
