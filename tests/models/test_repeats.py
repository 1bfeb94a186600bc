"""Seed repeats of runs: the copies a seed list adds to config `runs`."""

from __future__ import annotations

import pytest

from attriflow.errors import UserError
from attriflow.models.repeats import copy_id, repeats, seed_copies

RUNS = {
    "pre": {"model": "m", "dataset": "d", "epochs": 3},
    "multi": {"model": "m", "dataset": "d"},
    "sev": {"model": "m", "dataset": "d", "init": "multi", "loss": {"weighted": True}},
    "sev-pre": {"model": "m", "dataset": "d", "init": "pre"},
    "other": {"model": "m", "dataset": "d", "init": "outside"},
    "published": {"model": "m", "dataset": "d", "init": "imagenet", "epochs": 0},
    "own": {"model": "m", "dataset": "d", "seed": 5},
}


def test_every_other_seed_gets_a_copy_with_that_seed_and_the_same_settings():
    copies = seed_copies(RUNS, ["multi", "sev"], [0, 1, 2], seed=0)
    assert sorted(copies) == ["multi-seed1", "multi-seed2", "sev-seed1", "sev-seed2"]  # seed 0 is the run itself
    assert copies["sev-seed2"]["seed"] == 2 and copies["multi-seed1"]["seed"] == 1
    assert copies["sev-seed1"]["loss"] == {"weighted": True} and copies["sev-seed1"]["dataset"] == "d"
    assert "seed" not in RUNS["sev"]  # the config's own entries are not changed
    assert copy_id("sev", 2) == "sev-seed2"


def test_a_copy_starts_from_the_same_seed_repeat_of_a_repeated_init():
    copies = seed_copies(RUNS, ["multi", "sev", "sev-pre", "other"], [0, 1], seed=0)
    assert copies["sev-seed1"]["init"] == "multi-seed1"  # multi is repeated: its seed-1 copy
    assert copies["sev-pre-seed1"]["init"] == "pre"  # pre is not repeated: the run itself
    assert copies["other-seed1"]["init"] == "outside"
    # the init's own seed is the init itself: a run at seed 5 repeated at 5 starts from the base
    runs = {"a": {"seed": 5}, "b": {"init": "a"}}
    assert seed_copies(runs, ["a", "b"], [0, 5], seed=0)["b-seed5"]["init"] == "a"


def test_the_repeat_map_uses_each_runs_own_seed_and_skips_untrained_runs():
    table = repeats(RUNS, ["own", "published", "multi"], [0, 1], seed=0)
    assert table["own"] == {0: "own-seed0", 1: "own-seed1", 5: "own"}  # the run is the repeat at its own seed
    assert table["published"] == {0: "published"}  # epochs 0: the weights do not depend on a seed
    assert table["multi"] == {0: "multi", 1: "multi-seed1"}
    # train_defaults' seed and epochs count when the run sets none
    assert repeats({"r": {}}, ["r"], [0, 1], seed=0, defaults={"seed": 1}) == {"r": {0: "r-seed0", 1: "r"}}
    assert repeats({"r": {}}, ["r"], [0, 1], seed=0, defaults={"epochs": 0}) == {"r": {0: "r"}}
    assert "published-seed1" not in seed_copies(RUNS, ["published"], [0, 1], seed=0)


def test_a_copy_id_that_is_already_a_run_is_an_error():
    runs = {**RUNS, "multi-seed1": {"model": "m", "dataset": "d"}}
    with pytest.raises(UserError, match="multi-seed1.*collides"):
        seed_copies(runs, ["multi"], [0, 1], seed=0)
    with pytest.raises(UserError, match="unknown run"):
        seed_copies(RUNS, ["nope"], [0, 1], seed=0)
