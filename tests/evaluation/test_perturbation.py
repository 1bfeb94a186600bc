"""Pixel perturbation: the true relevance of a linear model beats random at every step, the
curves equal Quantus' PixelFlipping, and the forwards are exactly the ones needed, in bounded chunks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attriflow.errors import UserError
from attriflow.evaluation.masking import fill_colour, removal_ranks
from attriflow.evaluation.perturbation import (
    COLUMNS, DEFAULT_FRACTIONS, perturbation_probabilities, perturbation_summary, pixel_perturbation,
)
from attriflow.evaluation.roar import random_maps

from .conftest import images, linear_model, quiet_quantus, tiny_cnn


def two_class_linear(seed=0, channels=3, size=16):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(2, channels, size, size, generator=g) * 3.0 / (channels * size * size) ** 0.5
    return linear_model(w), w


def true_relevance(w, x, target, colour):
    """Exact contribution of each pixel to logit_target - logit_other relative to the fill colour."""
    diff = (w[1] - w[0]).unsqueeze(0) * (x - colour)
    sign = torch.where(target == 1, 1.0, -1.0).view(-1, 1, 1)
    return sign * diff.sum(1)


def test_true_relevance_beats_random_at_every_step():
    model, w = two_class_linear()
    x = images(24, size=16, seed=5)
    colour = fill_colour(x, "channel_mean")
    target = model(x).argmax(1)
    relevance = true_relevance(w, x, target, colour)
    maps = {"true": relevance, "random": random_maps(len(x), 16, 16, seed=1) - 0.5}
    lerf = pixel_perturbation(model, x, {k: v.abs() for k, v in maps.items()}, orders=("lerf",))
    morf = pixel_perturbation(model, x, maps, orders=("morf",))
    for df, better in ((lerf, np.less), (morf, np.greater)):
        s = perturbation_summary(df).pivot(index="fraction", columns="method", values="mean")
        assert list(s.index) == list(DEFAULT_FRACTIONS)
        assert better(s["true"], s["random"]).all(), s


def test_output_rows_and_relative_change():
    model = tiny_cnn()
    x = images(3, size=16)
    df = pixel_perturbation(model, x, {"a": random_maps(3, 16, 16), "b": random_maps(3, 16, 16, seed=2)},
                            fractions=(0.0, 0.05, 0.1))
    assert list(df.columns) == COLUMNS
    assert len(df) == 2 * 2 * 3 * 3  # methods x orders x images x fractions
    np.testing.assert_allclose(df.rel_change, np.abs(df.p - df.p_original) / df.p_original)
    np.testing.assert_allclose(df[df.fraction == 0].rel_change, 0.0, atol=1e-6)  # nothing removed
    assert set(df.removed) == {0, 12, 25}  # floor(f * 256)
    p0 = torch.softmax(model(x), 1).max(1).values.detach().numpy()
    np.testing.assert_allclose(df[(df.method == "a") & (df.order == "lerf") & (df.fraction == 0)].p_original, p0, rtol=1e-6)


def test_forwards_are_exactly_the_needed_ones_in_bounded_chunks():
    model = tiny_cnn()
    seen = []
    model.register_forward_pre_hook(lambda m, inp: seen.append(len(inp[0])))
    x = images(7, size=16)
    pixel_perturbation(model, x, {"a": random_maps(7, 16, 16), "b": random_maps(7, 16, 16, seed=1)}, batch_size=16)
    assert sum(seen) == 7 + 7 * 10 * 2 * 2  # originals once, then every (image, step, order, method)
    assert max(seen) <= 16


@pytest.mark.parametrize("batch_size", [3, 16, 1000])
def test_each_image_is_ranked_once_whatever_the_chunks(monkeypatch, batch_size):
    import attriflow.evaluation.perturbation as perturbation

    ranked = []

    def counted(maps, descending=True, **ties):
        ranked.append(len(maps))
        return removal_ranks(maps, descending, **ties)

    monkeypatch.setattr(perturbation, "removal_ranks", counted)
    x = images(7, size=16)
    perturbation_probabilities(tiny_cnn(), x, random_maps(7, 16, 16), 0, DEFAULT_FRACTIONS, batch_size=batch_size)
    assert sum(ranked) == 7


def test_chunking_does_not_change_values():
    model = tiny_cnn()
    x = images(5, size=16)
    maps = random_maps(5, 16, 16)
    a = perturbation_probabilities(model, x, maps, 1, DEFAULT_FRACTIONS, order="morf", batch_size=1000)
    b = perturbation_probabilities(model, x, maps, 1, DEFAULT_FRACTIONS, order="morf", batch_size=3)
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_steps_are_cumulative_and_removed_pixels_have_the_fill_colour():
    seen = []

    class Probe(torch.nn.Module):
        def forward(self, x):
            seen.append(x.clone())
            return torch.zeros(len(x), 2)

    x = images(2, size=10)
    maps = random_maps(2, 10, 10)
    colour = torch.tensor([0.25, -1.0, 2.0])
    perturbation_probabilities(Probe(), x, maps, 0, (0.1, 0.3), order="lerf", fill=colour.tolist())
    batch = torch.cat(seen).view(2, 2, 3, 10, 10)  # image, step
    for i in range(2):
        order = maps[i].flatten().argsort()
        for step, k in enumerate((10, 30)):
            removed = (batch[i, step] != x[i]).any(0).flatten()
            assert removed.sum() == k and removed[order[:k]].all()
            np.testing.assert_array_equal(batch[i, step].flatten(1)[:, order[:k]].T, colour.expand(k, 3))


def test_fill_colours():
    x = images(4, size=8)
    torch.testing.assert_close(fill_colour(x, "channel_mean").flatten(), x.mean((0, 2, 3)))
    torch.testing.assert_close(fill_colour(x, "image_channel_mean")[:, :, 0, 0], x.mean((2, 3)))
    assert fill_colour(x, 0.5).shape == (1, 3, 1, 1)
    with pytest.raises(UserError, match="2 values; the images have 3 channels"):
        fill_colour(x, [0.1, 0.2])
    with pytest.raises(UserError, match="fill 'median'"):
        fill_colour(x, "median")
    with pytest.raises(UserError, match="fraction must be in"):
        pixel_perturbation(tiny_cnn(), images(2, size=16), {"a": random_maps(2, 16, 16)}, fractions=(10,))


@pytest.mark.parametrize("order", ["morf", "lerf"])
def test_same_values_as_quantus_pixel_flipping(order):
    quantus = quiet_quantus()
    model = tiny_cnn(seed=4)
    x = images(4, size=12, seed=6)  # Quantus needs H * W divisible by its step of C * 12 features
    y = model(x).argmax(1)
    maps = random_maps(4, 12, 12, seed=3)
    colour = torch.tensor([0.3, 0.5, 0.7])
    flat_colour = colour.repeat_interleave(12 * 12).numpy()

    def fill_with_colour(arr, indices, **kwargs):
        out = arr.copy()
        out[np.arange(len(arr))[:, None], indices] = flat_colour[indices]
        return out

    metric = quantus.PixelFlipping(features_in_step=3 * 12, perturb_func=fill_with_colour, normalise=False,
                                   abs=False, disable_warnings=True)
    a = (maps if order == "morf" else 1 - maps)[:, None].numpy()  # Quantus flips the largest values first
    ref = np.asarray(metric(model=model, x_batch=x.numpy(), y_batch=y.numpy(), a_batch=a, channel_first=True,
                            softmax=True, device="cpu"))
    ours = perturbation_probabilities(model, x, maps, y, [k / 12 for k in range(1, 13)], order=order, fill=colour)
    assert ref.shape == tuple(ours.shape) == (4, 12)
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-6)
