"""Stored maps: an atomic, pickle-free .npz that round-trips maps, targets, logits, method, parameters
and provenance."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from attriflow.attribution import attribute_with_predictions, load_attributions, save_attributions
from attriflow.errors import UserError

from .conftest import images, make_vgg


def test_round_trip_with_predictions(tmp_path):
    model, x = make_vgg(), images(n=3)
    baseline = torch.full((1, 3, 32, 32), 0.5)
    rec = attribute_with_predictions(model, x, None, "integrated_gradients", steps=3, baseline=baseline)
    with torch.no_grad():
        logits = model(x)
    torch.testing.assert_close(rec.logits, logits)
    assert torch.equal(rec.targets, logits.argmax(1))  # target=None: the predicted class
    path = save_attributions(tmp_path / "maps" / "vgg" / "ig.npz", rec.maps, rec.targets, rec.logits, rec.method,
                             rec.params, seed=7, scale="smoke")
    assert sorted(p.name for p in path.parent.iterdir()) == ["ig.npz"]  # no temporary file left behind
    back = load_attributions(path)
    assert torch.equal(back.maps, rec.maps) and torch.equal(back.targets, rec.targets)
    assert torch.equal(back.logits, rec.logits) and back.method == "integrated_gradients"
    assert back.params["steps"] == 3 and back.params["baseline"]["shape"] == [1, 3, 32, 32]
    assert back.params["integration"] == "gausslegendre" and back.params["reduce"] == "sum"  # defaults recorded
    assert back.provenance["seed"] == 7 and back.provenance["scale"] == "smoke"
    assert "torch" in back.provenance["versions"] and back.provenance["git_commit"]
    with np.load(path, allow_pickle=False) as raw:  # plain arrays, readable without attriflow
        assert json.loads(str(raw["params"]))["steps"] == 3


def test_saving_rejects_inconsistent_lengths(tmp_path):
    with pytest.raises(UserError, match="same length"):
        save_attributions(tmp_path / "a.npz", torch.zeros(3, 4, 4), torch.zeros(2), torch.zeros(3, 10), "gradient", {})
    assert not (tmp_path / "a.npz").exists()


def test_loading_a_foreign_file_says_what_is_wrong(tmp_path):
    np.savez(tmp_path / "other.npz", maps=np.zeros(3))
    with pytest.raises(UserError, match="missing targets"):
        load_attributions(tmp_path / "other.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(UserError, match="not a readable attribution file"):
        load_attributions(tmp_path / "junk.npz")
    with pytest.raises(FileNotFoundError):
        load_attributions(tmp_path / "absent.npz")
