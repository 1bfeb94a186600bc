"""Heads and losses per task (weighted MSE, positive weights, zones) and their metrics."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from .conftest import make_set

from attriflow.data.imageset import ImageSet
from attriflow.errors import UserError
from attriflow.models import create_model
from attriflow.models.tasks import build_loss, head_width, inverse_frequency_weights, metrics, selection_key


@pytest.mark.parametrize("task,width", [("multiclass", 4), ("multilabel", 4), ("binary", 1), ("regression", 1), ("zones", 24)])
def test_head_width_and_model_output_fit_the_loss(task, width):
    data = make_set(task, n=16)
    assert head_width(task, data) == width
    model = create_model("resnet8", num_classes=width, width=0.25)
    loss = build_loss(task, {}, data)(model(data.images), data.targets)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert model.fc.weight.grad is not None


def _binary(y):
    return ImageSet(images=torch.zeros(len(y), 1, 2, 2), targets=torch.tensor(y), task="binary", class_names=["0", "1"])


def test_binary_pos_weight_is_torch_pos_weight():
    data = _binary([1, 0, 0, 0, 1, 0])
    logits = torch.randn(6, 1)
    want = F.binary_cross_entropy_with_logits(logits[:, 0], data.targets.float(), pos_weight=torch.tensor(3.17))
    assert torch.allclose(build_loss("binary", {"pos_weight": 3.17}, data)(logits, data.targets), want)
    unweighted = F.binary_cross_entropy_with_logits(logits[:, 0], data.targets.float())
    assert torch.allclose(build_loss("binary", {}, data)(logits, data.targets), unweighted)


def test_binary_neg_weight_weights_the_target_zero_items():
    """The authors' weak-label code puts 3.17 on the No Finding class (target 0)."""
    data = _binary([1, 0, 1, 1])
    logits = torch.randn(4, 1)
    per_item = F.binary_cross_entropy_with_logits(logits[:, 0], data.targets.float(), reduction="none")
    want = (per_item * torch.tensor([1.0, 3.17, 1.0, 1.0])).mean()
    assert torch.allclose(build_loss("binary", {"neg_weight": 3.17}, data)(logits, data.targets), want)


def test_balanced_binary_weight_is_the_class_ratio():
    data = _binary([1, 0, 0, 0])
    loss = build_loss("binary", {"pos_weight": "balanced"}, data)
    assert loss.pos_weight.item() == pytest.approx(3.0)


def test_multilabel_per_label_pos_weight():
    data = make_set("multilabel", n=32, k=3)
    logits = torch.randn(32, 3)
    pw = torch.tensor([1.0, 2.0, 5.0])
    want = F.binary_cross_entropy_with_logits(logits, data.targets, pos_weight=pw)
    assert torch.allclose(build_loss("multilabel", {"pos_weight": [1, 2, 5]}, data)(logits, data.targets), want)
    balanced = build_loss("multilabel", {"pos_weight": "balanced"}, data).pos_weight
    pos = data.targets.sum(0)
    assert torch.allclose(balanced, (32 - pos) / pos)
    with pytest.raises(UserError, match="list of 3"):
        build_loss("multilabel", {"pos_weight": [1, 2]}, data)


def test_weighted_mse_uses_inverse_score_frequency():
    y = torch.tensor([0.0, 0.0, 0.0, 2.0])
    data = ImageSet(images=torch.zeros(4, 1, 2, 2), targets=y, task="regression", class_names=["s"])
    pred = torch.tensor([[1.0], [0.0], [0.5], [1.0]])
    weights = inverse_frequency_weights(y)
    # score 0 seen 3 times, score 2 once: weights 1/3 and 1, scaled to mean 1 over the items
    assert torch.allclose(weights[torch.tensor([0, 2])] / weights[0], torch.tensor([1.0, 3.0]))
    assert weights[y.long()].mean().item() == pytest.approx(1.0)
    err = (pred[:, 0] - y) ** 2
    want = (err * weights[y.long()]).mean()
    assert torch.allclose(build_loss("regression", {"weighted": True}, data)(pred, y), want)
    assert torch.allclose(build_loss("regression", {}, data)(pred, y), err.mean())
    tempered = build_loss("regression", {"weighted": True, "weight_power": 0.5}, data).score_weights
    assert tempered[2] / tempered[0] == pytest.approx(3 ** 0.5)
    with pytest.raises(UserError, match="weight_power must be a positive number"):
        build_loss("regression", {"weighted": True, "weight_power": 0}, data)


def test_zone_loss_is_cross_entropy_over_six_zones_of_four_classes():
    data = make_set("zones", n=8)
    logits = torch.randn(8, 24)
    want = F.cross_entropy(logits.reshape(8, 6, 4).permute(0, 2, 1), data.targets)
    assert torch.allclose(build_loss("zones", {}, data)(logits, data.targets), want)


def test_loss_options_are_checked_per_task():
    data = make_set("multiclass", n=8)
    with pytest.raises(UserError, match=r"loss options \['pos_weight'\] do not apply to task 'multiclass'"):
        build_loss("multiclass", {"pos_weight": 2.0}, data)
    with pytest.raises(UserError, match="positive number or 'balanced'"):
        build_loss("binary", {"pos_weight": -1}, make_set("binary", n=8))
    with pytest.raises(UserError, match="weighted must be true or false"):
        build_loss("regression", {"weighted": "yes"}, make_set("regression", n=8))


def test_metrics_on_known_outputs():
    assert metrics("multiclass", torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0]]), torch.tensor([0, 1, 1]))["accuracy"] == pytest.approx(2 / 3)
    b = metrics("binary", torch.tensor([[0.0], [1.0], [3.0], [-1.0]]), torch.tensor([0, 1, 1, 1]))
    assert b["auc"] == pytest.approx(2 / 3) and b["accuracy"] == pytest.approx(0.75)
    r = metrics("regression", torch.tensor([[1.0], [4.0]]), torch.tensor([2.0, 2.0]))
    assert r["mae"] == pytest.approx(1.5)
    ml = metrics("multilabel", torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([[1.0, 1.0], [0.0, 1.0]]))
    assert ml["macro_auc"] == pytest.approx(1.0) and math.isnan(ml["auc_per_label"][1])  # label 2 has one class only
    z_targets = torch.tensor([[0, 1, 2, 3, 0, 0]])
    z = metrics("zones", F.one_hot(torch.tensor([[0, 1, 2, 3, 0, 1]]), 4).float().reshape(1, 24), z_targets)
    assert z["zone_accuracy"] == pytest.approx(5 / 6) and z["mae"] == pytest.approx(1.0)


def test_selection_prefers_the_metric_then_the_loss():
    assert selection_key("regression", {"mae": 1.0}, 5.0) > selection_key("regression", {"mae": 2.0}, 1.0)
    assert selection_key("binary", {"auc": float("nan")}, 1.0) > selection_key("binary", {"auc": float("nan")}, 2.0)
    assert selection_key("binary", {"auc": 0.6}, 9.0) > selection_key("binary", {"auc": float("nan")}, 0.1)
