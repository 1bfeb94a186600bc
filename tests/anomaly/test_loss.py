"""The MKD loss: zero when the cloner reproduces the expert, the terms and where lambda goes."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from attriflow.anomaly.loss import DistillationLoss, LossSpec, combine
from attriflow.errors import UserError
from attriflow.models.vgg import mkd_cloner, stage_outputs


@pytest.mark.parametrize("spec", [LossSpec(), LossSpec(lambda_on="dir", lam=0.5), LossSpec(use_dir=False),
                                  LossSpec(stages=(5,))])
def test_loss_is_zero_when_the_cloner_equals_the_expert_on_the_taps(spec):
    torch.manual_seed(0)
    expert = mkd_cloner(width=0.125).eval()
    cloner = copy.deepcopy(expert)
    x = torch.rand(4, 3, 32, 32)
    loss = DistillationLoss(expert, cloner, spec)(x)
    assert loss.shape == (4, 1)
    assert torch.allclose(loss, torch.zeros_like(loss), atol=1e-6)
    # and it is not zero once a tapped layer differs
    with torch.no_grad():
        cloner.features[0].weight.add_(0.5 * torch.randn_like(cloner.features[0].weight))
    assert (DistillationLoss(expert, cloner, spec)(x) > 1e-4).all()


def test_terms_and_lambda_placement_match_their_definitions():
    torch.manual_seed(1)
    pred = [torch.randn(3, 4, 4, 4), torch.randn(3, 8, 2, 2)]
    real = [torch.randn(3, 4, 4, 4), torch.randn(3, 8, 2, 2)]
    val = sum(((p - r) ** 2).flatten(1).mean(1) for p, r in zip(pred, real))
    direc = sum(1 - F.cosine_similarity(p.flatten(1), r.flatten(1)) for p, r in zip(pred, real))
    lam = 0.3
    assert torch.allclose(combine(pred, real, LossSpec(lam=lam, lambda_on="val")), direc + lam * val)  # the code
    assert torch.allclose(combine(pred, real, LossSpec(lam=lam, lambda_on="dir")), val + lam * direc)  # the paper
    assert torch.allclose(combine(pred, real, LossSpec(lam=lam, use_dir=False)), val)


def test_bad_settings_are_user_errors():
    with pytest.raises(UserError, match="lambda_on"):
        LossSpec(lambda_on="both")
    with pytest.raises(UserError, match="unknown loss settings"):
        LossSpec.from_dict({"lamda": 1})
    with pytest.raises(UserError, match="does not match"):
        combine([torch.zeros(1, 2, 2, 2)], [torch.zeros(1, 3, 2, 2)], LossSpec())
    assert LossSpec.from_dict({"stages": [3, 4], "lambda_on": "dir"}).to_dict()["stages"] == [3, 4]


def test_cloner_taps_have_the_experts_shapes():
    from attriflow.models.vgg import vgg16_narrow

    expert, cloner = vgg16_narrow(width=0.125), mkd_cloner(width=0.125)
    x = torch.rand(2, 3, 32, 32)
    assert [t.shape for t in stage_outputs(expert, x)] == [t.shape for t in stage_outputs(cloner, x)]
