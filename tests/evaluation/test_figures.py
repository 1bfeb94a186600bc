"""Every plot function writes a non-trivial PNG from real evaluation output."""

from __future__ import annotations

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
import torch

from attriflow.errors import UserError
from attriflow.evaluation import class_sensitivity, pixel_perturbation, randomisation_test, random_maps
from attriflow.reporting.figures import (
    plot_class_sensitivity, plot_map_grid, plot_perturbation, plot_randomisation, plot_roar,
)

from .conftest import edges, gradient, images, tiny_cnn


def assert_real_png(path, min_colours=20):
    assert path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[0] > 200 and pixels.shape[1] > 200
    colours = np.unique(pixels.reshape(-1, pixels.shape[-1]).round(3), axis=0)
    assert len(colours) >= min_colours, f"{path.name}: only {len(colours)} colours"


@pytest.fixture(scope="module")
def setting():
    model, x = tiny_cnn(), images(4, size=16)
    return model, x


def test_randomisation_plot(tmp_path, setting):
    model, x = setting
    df = randomisation_test(model, x, None, {"gradient": gradient, "edges": edges}, measures=("ssim", "spearman"))
    assert_real_png(plot_randomisation(df, tmp_path / "rand.png"))
    independent = randomisation_test(model, x, None, {"gradient": gradient}, order="independent", measures=("ssim",))
    both = pd.concat([df[df.measure == "ssim"], independent])
    assert_real_png(plot_randomisation(both, tmp_path / "both.png"))


def test_perturbation_plot(tmp_path, setting):
    model, x = setting
    df = pixel_perturbation(model, x, {"a": random_maps(4, 16, 16), "b": random_maps(4, 16, 16, seed=1)})
    assert_real_png(plot_perturbation(df, tmp_path / "pert.png"))


def test_roar_plot_with_published_curves(tmp_path):
    ours = pd.DataFrame({"method": ["gradient"] * 3 + ["random"] * 3, "fraction": [0.1, 0.5, 0.9] * 2,
                         "accuracy": [0.8, 0.7, 0.6, 0.82, 0.8, 0.78]})
    published = pd.DataFrame({"method": ["gradient"] * 3, "fraction": [10, 50, 90], "accuracy": [79.1, 82.81, 75.5],
                              "source": "Khakzar et al. arXiv 1911.11081"})
    assert_real_png(plot_roar(ours, tmp_path / "roar.png", published=published, baseline=84.36))
    with pytest.raises(UserError, match="source"):
        plot_roar(ours, tmp_path / "bad.png", published=published.drop(columns="source"))


def test_class_sensitivity_plot(tmp_path, setting):
    model, x = setting
    df = class_sensitivity(model, x, {"gradient": gradient, "edges": edges})
    assert_real_png(plot_class_sensitivity(df, tmp_path / "cls.png"))


def test_map_grid(tmp_path, setting):
    model, x = setting
    target = model(x).argmax(1)
    maps = {"gradient": gradient(model, x, target), "edges": edges(model, x, target)}
    assert_real_png(plot_map_grid(x[:3], {k: v[:3] for k, v in maps.items()}, tmp_path / "grid.png"))
    with pytest.raises(UserError, match="maps of 'bad'"):
        plot_map_grid(x[:3], {"bad": torch.zeros(2, 16, 16)}, tmp_path / "bad.png")


def test_figures_with_bootstrap_intervals_are_byte_identical_across_draws(tmp_path):
    """seaborn's confidence intervals bootstrap: unseeded, two runs of the same table drew different PNGs."""
    import hashlib

    from attriflow.reporting.figures import plot_perturbation

    rng = np.random.RandomState(0)
    df = pd.DataFrame({"image": np.repeat(np.arange(20), 10), "method": "m", "order": "lerf",
                       "fraction": np.tile(np.arange(1, 11) / 100, 20), "removed": 1, "p_original": 1.0,
                       "p": rng.rand(200), "rel_change": rng.rand(200)})
    digests = {hashlib.sha256(plot_perturbation(df, tmp_path / f"{i}.png").read_bytes()).hexdigest() for i in range(2)}
    assert len(digests) == 1
