"""Detection on constructed cases: separable -> AUROC 1, identical distributions -> about 0.5;
the expert stays bitwise frozen while the cloner trains."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attriflow.anomaly import LossSpec, anomaly_scores, auroc, knn_scores, train_cloner
from attriflow.anomaly.expert import cloner_for
from attriflow.anomaly.scoring import pooled_features
from attriflow.errors import UserError

from .conftest import flat, with_patch

INFO = {"width": 0.125}


@pytest.fixture(scope="module")
def trained(expert):
    torch.set_num_threads(1)
    cloner = cloner_for(INFO, seed=0)
    before = {k: v.clone() for k, v in expert.state_dict().items()}
    history = train_cloner(expert, cloner, flat(96, seed=1), LossSpec(), epochs=15, seed=0)
    return cloner, before, history


def test_expert_is_frozen_bitwise_through_training(expert, trained):
    _, before, history = trained
    after = expert.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights and BatchNorm buffers
    assert not any(p.requires_grad for p in expert.parameters()) and not expert.training
    assert history[-1]["loss"] < history[0]["loss"]  # while the cloner did learn


def test_separable_case_gives_auroc_one(expert, trained):
    cloner, _, _ = trained
    normal = flat(40, seed=2)
    anomalous = with_patch(flat(40, seed=3), seed=4, y=0, x=0, size=32)  # all noise: nothing like the normal set
    x = torch.cat([normal, anomalous])
    labels = np.r_[np.zeros(40), np.ones(40)]
    assert auroc(labels, anomaly_scores(expert, cloner, x, LossSpec())) == 1.0
    knn = knn_scores(pooled_features(expert, flat(96, seed=1)), pooled_features(expert, x), k=2)
    assert auroc(labels, knn) == 1.0


def test_identical_distributions_give_auroc_near_half(expert, trained):
    cloner, _, _ = trained
    x = flat(400, seed=5)  # both "classes" from the training distribution
    labels = np.r_[np.zeros(200), np.ones(200)]
    scores = anomaly_scores(expert, cloner, x, LossSpec())
    assert abs(auroc(labels, scores) - 0.5) < 0.08


def test_training_is_deterministic(expert):
    a, b = cloner_for(INFO, seed=3), cloner_for(INFO, seed=3)
    x = flat(32, seed=6)
    ha = train_cloner(expert, a, x, LossSpec(), epochs=2, seed=3)
    hb = train_cloner(expert, b, x, LossSpec(), epochs=2, seed=3)
    assert ha == hb and all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


def test_auroc_needs_both_kinds_and_knn_checks_k():
    with pytest.raises(UserError, match="both"):
        auroc([0, 0], [0.1, 0.2])
    with pytest.raises(UserError, match="k must"):
        knn_scores(torch.zeros(3, 2), torch.zeros(1, 2), k=4)


def test_scores_from_cached_expert_outputs_equal_the_full_pass(expert, trained):
    from attriflow.anomaly.cloner import expert_outputs

    cloner, _, _ = trained
    x = flat(20, seed=9)
    spec = LossSpec(stages=(3, 5), lam=0.2, lambda_on="dir")
    cached = expert_outputs(expert, x, spec.stages, batch_size=7)
    full = anomaly_scores(expert, cloner, x, spec, batch_size=6)
    assert np.allclose(anomaly_scores(expert, cloner, x, spec, batch_size=6, expert_outputs=cached), full, rtol=1e-5, atol=1e-7)
    with pytest.raises(UserError, match="expert_outputs"):
        anomaly_scores(expert, cloner, x, spec, expert_outputs=cached[:1])
