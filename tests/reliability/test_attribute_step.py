"""``attriflow attribute --target label`` on a binary run: label 0 / 1 index the one logit's two classes."""

from __future__ import annotations

import numpy as np
import torch

from attriflow import steps
from attriflow.attribution import load_attributions
from attriflow.cli import main
from attriflow.data.imageset import ImageSet
from attriflow.models.training_data import Splits

from .conftest import images, net


def _binary_run(monkeypatch):
    model, x = net("binary"), images(8)
    labels = torch.tensor([0, 1, 1, 0, 1, 0, 0, 1])
    data = ImageSet(images=x, targets=labels, task="binary", class_names=["negative", "positive"])
    monkeypatch.setattr(steps, "run_splits", lambda run: (model, {"task": "binary"}, Splits(data, data, data)))
    return model, x, labels


def grad_of_logit(model, x):
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(model(x)[:, 0].sum(), x)
    return g.sum(1)


def test_target_label_on_a_binary_run_explains_each_label(tmp_path, monkeypatch):
    model, x, labels = _binary_run(monkeypatch)
    out = tmp_path / "maps.npz"
    assert main(["attribute", "--run", "run", "--method", "gradient", "--target", "label", "--out", str(out)]) == 0
    rec = load_attributions(out)
    assert torch.equal(rec.targets, labels)
    sign = torch.where(labels == 1, 1.0, -1.0)[:, None, None]
    torch.testing.assert_close(rec.maps, sign * grad_of_logit(model, x))
    assert rec.logits.shape == (8, 1) and rec.params["head"] == "binary"


def test_target_predicted_on_a_binary_run_is_the_thresholded_logit(tmp_path, monkeypatch):
    model, x, _ = _binary_run(monkeypatch)
    out = tmp_path / "maps.npz"
    assert main(["attribute", "--run", "run", "--method", "gradient", "--out", str(out)]) == 0
    rec = load_attributions(out)
    z = model(x).detach()[:, 0]
    assert np.array_equal(rec.targets.numpy(), (z > 0).long().numpy())
