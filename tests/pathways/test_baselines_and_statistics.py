"""Greedy pruning, learned gates (DGR / CDRP) and pathway statistics: exact sparsity, the response
kept on a trained model, Jaccard against a hand count, and the model left as it was, even on error."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from attriflow.pathways import activations, kept_count, kept_fraction, pathway
from attriflow.pathways.baselines import gate_pathway, greedy_pathway, learned_gates
from attriflow.pathways.statistics import (
    SELECTORS, dead_fraction, find_pathways, jaccard_matrix, overlap_table, response_table,
)

from .conftest import plain_net


def snapshot(model):
    return {k: v.clone() for k, v in model.state_dict().items()}, [p.grad for p in model.parameters()], \
        [p.requires_grad for p in model.parameters()], copy.copy(model._forward_hooks)


def assert_same(model, snap):
    state, grads, flags, hooks = snap
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert all(g is None for g in (p.grad for p in model.parameters()))
    assert [p.requires_grad for p in model.parameters()] == flags
    assert model._forward_hooks == hooks


@pytest.mark.parametrize("selector", SELECTORS)
def test_every_selector_keeps_the_share_and_leaves_the_model_alone(selector, trained):
    model, x, _ = trained
    x = x[:4]
    t = model(x).argmax(1)
    snap = snapshot(model)
    masks = find_pathways(model, x, t, selector, 75.0, steps=3, gate_iterations=5)
    assert_same(model, snap)
    total = sum(m[0].numel() for m in masks)
    assert torch.allclose(kept_fraction(masks), torch.full((4,), kept_count(total, 75.0) / total))
    with torch.no_grad():  # no ReLU replacement stays active after the call
        assert torch.equal(model(x), model(x.clone()))


def test_learned_gates_keep_the_prediction_and_shrink_under_l1(trained):
    model, x, _ = trained
    x = x[:4]
    pred = model(x).argmax(1)
    for granularity in ("channel", "neuron"):
        gates = learned_gates(model, x, granularity=granularity, iterations=60, l1=0.05)
        from attriflow.pathways import masked_logits

        assert torch.equal(masked_logits(model, x, gates).argmax(1), pred)  # the kept gates predict the same class
        assert float(torch.cat([g.flatten() for g in gates]).mean()) < 0.95  # L1 pulled gates below their init 1
        assert min(float(g.min()) for g in gates) >= 0.0
    ch = learned_gates(model, x, granularity="channel", iterations=2)
    first = ch[0]  # one value per channel: constant over the spatial positions
    assert torch.equal(first, first[:, :, :1, :1].expand_as(first))


def test_greedy_and_gate_pathways_keep_the_response_better_than_random(trained):
    model, x, _ = trained
    x = x[:8]
    t = model(x).argmax(1)
    rnd = response_table(model, x, t, pathway(model, x, t, contributions="mct", sparsity=85.0, selection="random"))
    greedy = response_table(model, x, t, greedy_pathway(model, x, t, 85.0, step=20.0))
    gates = response_table(model, x, t, gate_pathway(model, x, t, 85.0, granularity="neuron", iterations=100))
    assert greedy["rel_change"].mean() < rnd["rel_change"].mean()
    assert gates["rel_change"].mean() < rnd["rel_change"].mean()
    assert greedy["same_prediction"].mean() >= rnd["same_prediction"].mean()


def test_jaccard_and_overlap_match_a_hand_count():
    a = [torch.tensor([[1.0, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]]), torch.tensor([[1.0], [1], [0]])]
    j = jaccard_matrix(a)
    # pathway 0: {0, 1, 4}; 1: {0, 2, 4}; 2: {} -> J(0, 1) = 2 / 4, empty vs non-empty = 0, empty vs empty = 1
    assert torch.allclose(j, torch.tensor([[1.0, 0.5, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype=j.dtype))
    table = overlap_table(a, torch.tensor([3, 3, 5]))
    assert table["same_class"].tolist() == [True, False, False]
    assert table["jaccard"].tolist() == [0.5, 0.0, 0.0]


def test_dead_fraction_counts_zero_relu_outputs():
    model = plain_net()
    x = torch.rand(2, 3, 16, 16)
    acts = activations(model, x)
    expected = sum((a == 0).sum(dim=tuple(range(1, a.ndim))) for a in acts).float() / sum(a[0].numel() for a in acts)
    torch.testing.assert_close(dead_fraction(model, x), expected)
    assert 0.0 < float(expected.mean()) < 1.0


class Boom(nn.Module):
    def forward(self, x):
        raise RuntimeError("boom")


def test_an_error_half_way_leaves_no_replacement_behind():
    model = plain_net()
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        before = model(x)
    model.relu4 = nn.Sequential(nn.ReLU(), Boom())
    with pytest.raises(RuntimeError, match="boom"):
        find_pathways(model, x, torch.tensor([0, 1]), "cdrp", 90.0, gate_iterations=2)
    with pytest.raises(RuntimeError, match="boom"):
        find_pathways(model, x, torch.tensor([0, 1]), "mct", 90.0)
    model.relu4 = nn.ReLU()
    with torch.no_grad():
        assert torch.equal(model(x), before)  # ReLUs are plain again, nothing masked
    assert torch.relu(torch.tensor([-1.0, 2.0])).tolist() == [0.0, 2.0]


def test_decoding_raises_the_pathways_activations_over_the_rest():
    from attriflow.pathways.statistics import decode_pathway

    model = plain_net()
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    masks = pathway(model, x, torch.tensor([0, 1]), contributions="mct", sparsity=90.0)

    def contrast(img):  # the decoding objective: kept minus removed mean activation, relative, last 3 layers
        total = 0.0
        for a, m in zip(activations(model, img)[-3:], masks[-3:]):
            a, m = a.flatten(1), m.flatten(1)
            total = total + ((a * m).sum(1) / m.sum(1) - (a * (1 - m)).sum(1) / (1 - m).sum(1)) / (a.mean(1) + 1e-6)
        return total.mean().item()

    start = decode_pathway(model, masks, x.shape, iterations=1, lr=1e-6, seed=0)
    decoded = decode_pathway(model, masks, x.shape, iterations=40, seed=0)
    assert decoded.shape == x.shape and 0.0 <= float(decoded.min()) and float(decoded.max()) <= 1.0
    assert contrast(decoded) > 1.03 * contrast(start)  # the kept neurons gain on the removed ones
    assert torch.equal(decoded, decode_pathway(model, masks, x.shape, iterations=40, seed=0))  # seeded
