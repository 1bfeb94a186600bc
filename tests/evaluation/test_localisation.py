"""Pointing game and relevance mass: hand-made cases and equality with Quantus."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from attriflow.errors import UserError
from attriflow.evaluation.localisation import COLUMNS, localisation, pointing_game, relevance_mass

from .conftest import quiet_quantus


def test_hand_made_cases():
    maps = torch.zeros(3, 4, 4)
    masks = torch.zeros(3, 4, 4, dtype=torch.bool)
    masks[:, :2, :2] = True
    maps[0, 0, 0], maps[0, 3, 3] = 3.0, -1.0  # peak inside; positive mass all inside
    maps[1, 3, 3], maps[1, 0, 1] = 2.0, 2.0  # tied peaks, one inside: a hit
    maps[1, 1, 1] = -5.0
    masks[2] = False  # empty mask: NaN
    hit = pointing_game(maps, masks)
    assert hit[:2].tolist() == [1.0, 1.0] and math.isnan(hit[2])
    assert relevance_mass(maps, masks)[:2].tolist() == [1.0, 0.5]
    assert relevance_mass(maps, masks, "absolute")[:2].tolist() == [0.75, 7 / 9]
    assert math.isnan(relevance_mass(maps, masks)[2])
    df = localisation({"m": maps}, masks[:, None])
    assert list(df.columns) == COLUMNS and len(df) == 3
    with pytest.raises(UserError, match="pick one mask plane"):
        pointing_game(maps, torch.zeros(3, 2, 4, 4, dtype=torch.bool))


def test_same_values_as_quantus():
    quantus = quiet_quantus()
    g = torch.Generator().manual_seed(0)
    maps = torch.rand(6, 12, 12, generator=g)
    masks = torch.zeros(6, 12, 12, dtype=torch.bool)
    for i in range(6):
        masks[i, i : i + 5, 2 * i : 2 * i + 4] = True
    maps[::2] += 3 * masks[::2]  # half of the maps peak on the object
    x = torch.rand(6, 1, 12, 12, generator=g).numpy()
    y = np.zeros(6, dtype=int)
    args = dict(model=torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(144, 2)), x_batch=x, y_batch=y,
                a_batch=maps[:, None].numpy(), s_batch=masks[:, None].numpy(), device="cpu")
    pg = quantus.PointingGame(disable_warnings=True, normalise=False)(**args)
    rma = quantus.RelevanceMassAccuracy(disable_warnings=True, normalise=False)(**args)
    np.testing.assert_array_equal(pointing_game(maps, masks).numpy(), np.asarray(pg, dtype=float))
    np.testing.assert_allclose(relevance_mass(maps, masks, "signed").numpy(), rma, rtol=1e-6)
    assert pointing_game(maps, masks)[::2].eq(1).all()
