"""The training spec's checks and defaults; held-out validation parts and merged views."""

from __future__ import annotations

import pytest
import torch
from .conftest import make_set

from attriflow.data.imageset import ImageSet
from attriflow.errors import UserError
from attriflow.models.spec import DEFAULTS, normalise_spec, spec_hash
from attriflow.models.training_data import holdout, merge_views


def test_defaults_fill_every_key():
    spec = normalise_spec({"model": "resnet8", "dataset": "shapes32"})
    assert set(spec) == set(DEFAULTS) and spec["optimizer"] == "adam" and spec["init"] == "random"


@pytest.mark.parametrize("bad,match", [
    ({"modle": "x"}, r"unknown spec keys \['modle'\]; valid keys: model, "),
    ({"model": None}, "'model' is required"),
    ({"optimizer": "rmsprop"}, "'optimizer': 'rmsprop' is not one of adam, sgd"),
    ({"epochs": -1}, "'epochs' must be a whole number >= 0"),
    ({"epochs": 0}, "'epochs' is 0 .* but 'init' is random"),
    ({"lr": -1}, "'lr' must be a positive number"),
    ({"task": "segmentation"}, "'task': 'segmentation' is not one of"),
    ({"loss": [1]}, "'loss' must be a mapping"),
])
def test_bad_values_name_the_key(bad, match):
    spec = {"model": "resnet8", "dataset": "shapes32", **bad}
    with pytest.raises(UserError, match=match):
        normalise_spec(spec)


def test_spec_hash_ignores_where_a_run_executes():
    a = normalise_spec({"model": "resnet8", "dataset": "shapes32", "device": "cpu"})
    b = normalise_spec({"model": "resnet8", "dataset": "shapes32", "device": "cuda", "num_workers": 2})
    c = normalise_spec({"model": "resnet8", "dataset": "shapes32", "lr": 0.01})
    assert spec_hash(a) == spec_hash(b) != spec_hash(c)


def test_holdout_is_disjoint_deterministic_and_independent_of_the_training_seed():
    data = make_set("multiclass", n=50)
    rest, held = holdout(data, 0.2)
    assert len(held) == 10 and len(rest) == 40
    rows = {tuple(x.flatten()[:8].tolist()) for x in data.images}
    assert {tuple(x.flatten()[:8].tolist()) for x in torch.cat([rest.images, held.images])} == rows
    torch.manual_seed(123)
    assert torch.equal(holdout(data, 0.2)[1].images, held.images)


def test_merge_views_numbers_classes_and_matches_channels():
    shapes = make_set("multiclass", n=8, k=4)
    grey = ImageSet(images=torch.rand(3, 1, 8, 8), targets=torch.zeros(3, dtype=torch.long), task="binary",
                    class_names=["normal", "anomalous"], name="textures/carpet")
    merged = merge_views([shapes, grey])
    assert merged.task == "multiclass" and merged.images.shape == (11, 3, 16, 16)
    assert merged.class_names == [f"synthetic-multiclass:c{i}" for i in range(4)] + ["textures/carpet"]
    assert merged.targets[:8].tolist() == shapes.targets.tolist() and merged.targets[8:].tolist() == [4, 4, 4]
    assert merged.num_outputs == 5
