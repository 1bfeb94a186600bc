"""pathway_gradient and prune_grad: the plain gradient at sparsity 0, exactly (100 - s)% of the neurons
kept, agreement with a per-module-hook reference, a trained network's response kept better than by
random pruning, chunking invariance, seeded random selection, and registry loading."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torchvision
from torch import nn

from attriflow.attribution import attribute, get_method, list_methods
from attriflow.cli import main
from attriflow.errors import UserError
from attriflow.pathways import (
    activations, kept_count, kept_fraction, masked_logits, neuron_contributions, pathway, random_pathway,
)

from .conftest import plain_net


def resnet18():
    torch.manual_seed(0)
    return torchvision.models.resnet18(num_classes=5).eval()  # one shared in-place ReLU per block


def images(n=3, size=32, seed=0):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("make", [plain_net, resnet18])
@pytest.mark.parametrize("method", ["prune_grad", "pathway_gradient"])
def test_sparsity_zero_is_the_plain_gradient(make, method):
    model, x = make(), images()
    grad = attribute(model, x, 1, "gradient", reduce=None)
    got = attribute(model, x, 1, method, sparsity=0.0, reduce=None, **({"steps": 3} if method == "pathway_gradient" else {}))
    assert torch.equal(got, grad)
    pruned = attribute(model, x, 1, method, sparsity=90.0, reduce=None)
    assert not torch.allclose(pruned, grad, atol=1e-6)  # and pruning does change the map


def test_every_relu_call_is_a_layer_including_shared_inplace_and_functional():
    acts = activations(resnet18(), images(n=2))
    assert len(acts) == 1 + 8 * 2  # stem + two calls of each block's one shared ReLU module
    acts = activations(plain_net(), images(n=2, size=16))
    assert [tuple(a.shape[1:]) for a in acts] == [(8, 16, 16), (16, 8, 8), (16, 8, 8), (32,)]


@pytest.mark.parametrize("sparsity", [0.0, 33.3, 70.0, 90.0, 99.0])
@pytest.mark.parametrize("selection", ["contribution", "random"])
def test_exactly_the_kept_share_of_neurons_stays(sparsity, selection):
    model, x = resnet18(), images()
    masks = pathway(model, x, torch.tensor([0, 1, 2]), contributions="mct", sparsity=sparsity, selection=selection)
    total = sum(m[0].numel() for m in masks)
    assert torch.equal(kept_fraction(masks), torch.full((3,), kept_count(total, sparsity) / total))
    assert abs(kept_count(total, sparsity) / total - (100 - sparsity) / 100) <= 1 / total


def _reference_prune_grad(model, x, target, sparsity):
    """The authors' recipe with per-module hooks (works only for this net's separate ReLU modules, plus
    the functional ReLU done by hand): scores |a * dy/da|, one threshold by sorting all scores."""
    import torch.nn.functional as F

    def forward(masks=None, keep=None):
        outs = []

        def act(t):
            y = F.relu(t)
            if masks is not None:
                y = y * masks[len(outs)]
            if keep is not None:
                y.retain_grad()
            outs.append(y)
            return y
        h = act(model.conv1(x))
        h = act(model.conv2(h))
        h = act(model.conv3(h))
        h = act(model.fc1(torch.flatten(model.pool(h), 1)))
        return model.fc2(h), outs

    logits, outs = forward(keep=True)
    logits[0, target].backward()
    scores = torch.cat([(a * a.grad).abs().flatten() for a in outs])
    k = int(round((100 - sparsity) / 100 * scores.numel()))
    tau = scores.sort(descending=True).values[k - 1]
    masks, start = [], 0
    for a in outs:
        n = a.numel()
        masks.append((scores[start:start + n] >= tau).float().view_as(a))
        start += n
    xg = x.detach().requires_grad_(True)
    x = xg
    logits, _ = forward(masks=masks)
    (g,) = torch.autograd.grad(logits[0, target], xg)
    return g


def test_prune_grad_agrees_with_a_hook_based_reference():
    model = plain_net()
    for i in range(3):
        x = images(n=1, size=16, seed=i)
        ref = _reference_prune_grad(model, x, 2, 80.0)
        got = attribute(model, x, 2, "prune_grad", sparsity=80.0, reduce=None)
        torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-7)


def test_trained_network_keeps_its_response_better_with_contributions_than_at_random(trained):
    model, x, y = trained
    with torch.no_grad():
        logits = model(x)
    t = logits.argmax(1)
    original = logits.gather(1, t[:, None])[:, 0]
    errors = {}
    for name, how in [("mct", "contribution"), ("intgrad", "contribution"), ("mct", "random")]:
        masks = pathway(model, x, t, contributions=name, sparsity=80.0, selection=how, seed=0)
        masked = masked_logits(model, x, masks).gather(1, t[:, None])[:, 0]
        errors[(name, how)] = (masked - original).abs().mean().item()
    assert errors[("mct", "contribution")] < 0.5 * errors[("mct", "random")], errors
    assert errors[("intgrad", "contribution")] < 0.5 * errors[("mct", "random")], errors


def test_intgrad_contributions_do_not_depend_on_the_chunking():
    model, x = resnet18(), images(n=3)
    t = torch.tensor([0, 1, 2])
    whole = neuron_contributions(model, x, t, "intgrad", steps=4, batch_size=None)
    chunked = neuron_contributions(model, x, t, "intgrad", steps=4, batch_size=5)  # chunks split images' steps
    for a, b in zip(whole, chunked):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    one = attribute(model, x, t, "pathway_gradient", steps=4, batch_size=4)
    many = attribute(model, x, t, "pathway_gradient", steps=4, batch_size=64)
    torch.testing.assert_close(one, many, rtol=1e-4, atol=1e-7)


def test_random_selection_is_reproducible_with_the_seed():
    like = activations(plain_net(), images(n=2, size=16))
    a, b, c = (random_pathway(like, 90.0, seed=s) for s in (3, 3, 4))
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    assert not all(torch.equal(p, q) for p, q in zip(a, c))
    m1 = attribute(plain_net(), images(n=2, size=16), 0, "prune_grad", selection="random", seed=7)
    m2 = attribute(plain_net(), images(n=2, size=16), 0, "prune_grad", selection="random", seed=7)
    assert torch.equal(m1, m2)


@pytest.mark.parametrize("method", ["prune_grad", "pathway_gradient"])
def test_random_pathways_differ_between_chunks_of_one_call(method):
    x = images(n=1, size=16).repeat(4, 1, 1, 1)  # the same image four times, two chunks of two
    maps = attribute(plain_net(), x, 0, method, batch_size=2, selection="random", seed=7)
    assert not torch.equal(maps[0], maps[2]) and not torch.equal(maps[1], maps[3])


def test_bad_parameters_are_refused_clearly():
    with pytest.raises(UserError, match="sparsity"):
        attribute(plain_net(), images(n=1, size=16), 0, "prune_grad", sparsity=120.0)
    with pytest.raises(UserError, match="selection"):
        attribute(plain_net(), images(n=1, size=16), 0, "prune_grad", selection="best")
    with pytest.raises(UserError, match="no ReLU"):
        attribute(nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 2)).eval(), images(n=1, size=16), 0, "prune_grad")


def test_methods_are_listed_and_load_through_the_registry_alone(capsys):
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    assert "pathway_gradient:" in out and "prune_grad:" in out and "sparsity" in out
    assert {"prune_grad", "pathway_gradient"} <= set(list_methods())
    assert {"sparsity", "steps", "batch_size"} <= set(get_method("pathway_gradient").params)
    # a fresh interpreter that never imports attriflow.pathways itself finds the methods via the registry
    code = ("import sys; from attriflow.attribution import get_method; "
            "assert 'attriflow.pathways' not in sys.modules; m = get_method('prune_grad'); "
            "assert 'attriflow.pathways' in sys.modules; print(m.function.__module__)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "attriflow.pathways.methods"
