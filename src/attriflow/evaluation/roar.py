"""ROAR, RemOve And Retrain (Hooker et al. 2019): replace the top fraction of pixels of every train
and test image by the train set's per-channel mean, retrain from scratch, record test accuracy.
A method whose removed pixels carry the label information drops accuracy further.

One call of :func:`roar_point` is one (method, fraction) point, so a workflow can run every
point as its own job; the training loop (and its resume) is the ``train_and_test`` callable.
:func:`retrain` is the workflow's point: a run's spec retrained from scratch on its train / val /
test splits masked by stored maps (``attriflow roar``). The random baseline is :func:`roar_point`
with :func:`random_maps`. The removal itself is :func:`remove_top` (from ``masking``; every split is
filled with the train set's colour). Fractions are shares in [0, 1] everywhere in this module (the
workflow's percentages are converted once, by the command).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from torch import Tensor

from attriflow.data.imageset import ImageSet
from attriflow.errors import UserError
from attriflow.evaluation.batching import check_maps
from attriflow.evaluation.masking import Fill, fill_colour, remove_top

FRACTIONS = (0.1, 0.3, 0.5, 0.7, 0.9)  # the papers' 10/30/50/70/90%

TrainAndTest = Callable[[ImageSet, ImageSet], float]
"""``train_and_test(train_set, test_set) -> test accuracy``: train a fresh model, evaluate it."""


def random_maps(n: int, height: int, width: int, seed: int = 0) -> Tensor:
    """(n, height, width) maps of independent uniform values: ROAR's random-ranking baseline."""
    return torch.rand(n, height, width, generator=torch.Generator().manual_seed(int(seed)))


def roar_sets(train_set: ImageSet, test_set: ImageSet, train_maps: Tensor, test_maps: Tensor, fraction: float,
              fill: Fill = "channel_mean", *, absolute: bool = False, seed: int = 0,
              batch_size: int = 256) -> tuple[ImageSet, ImageSet]:
    """Train and test sets with the top ``fraction`` of each image's pixels replaced.

    ``fill="channel_mean"`` is the per-channel mean of the unmodified train set, used for both
    sets (so the test images carry no statistics of their own into the fill); other fills as in
    ``masking.fill_colour``."""
    train_maps = check_maps(train_maps, train_set.images, "train_maps")
    test_maps = check_maps(test_maps, test_set.images, "test_maps")
    if train_set.images.shape[1:] != test_set.images.shape[1:]:
        raise UserError(f"train and test images differ in shape: {tuple(train_set.images.shape[1:])} "
                        f"vs {tuple(test_set.images.shape[1:])}")
    masked = _masked_sets({"train": train_set, "test": test_set}, {"train": train_maps, "test": test_maps},
                          fraction, fill, absolute=absolute, seed=seed, batch_size=batch_size)
    return masked["train"], masked["test"]


def _masked_sets(sets: Mapping[str, ImageSet], maps: Mapping[str, Tensor], fraction: float, fill: Fill, *,
                 absolute: bool, seed: int, batch_size: int) -> dict[str, ImageSet]:
    """Every set with its top ``fraction`` removed; ``channel_mean`` is the train set's colour for all."""
    colour = fill_colour(sets["train"].images, fill) if isinstance(fill, str) and fill == "channel_mean" else fill
    return {
        name: replace(s, images=remove_top(s.images, maps[name], fraction, colour, absolute=absolute, seed=seed,
                                           batch_size=batch_size))
        for name, s in sets.items()
    }


def retrain(spec: dict[str, Any], splits, maps: Mapping[str, Tensor] | None, fraction: float,
            out_dir: str | Path, *, epochs: int | None = None, fill: Fill = "channel_mean", absolute: bool = False,
            seed: int = 0, extra: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """One ROAR point of a trained run: its ``spec`` retrained from scratch (``init`` random; ``epochs``:
    the run's own unless given) on ``splits`` (train / val / test, :class:`~attriflow.models.training_data.Splits`)
    with the top ``fraction`` (in [0, 1]) of every image's pixels removed by ``maps`` (split -> (N, H, W));
    ``fraction`` 0 (``maps`` may be None) retrains on the unmodified data with the same budget. ``seed``
    seeds the retraining (one ROAR repeat) and the random breaking of ties. Writes the run folder ``out_dir`` (resumes from its checkpoint) and
    returns its metrics, which record ``fraction`` and ``extra``."""
    from attriflow.models.training import train_run
    from attriflow.models.training_data import Splits

    fraction = float(fraction)
    if not 0.0 <= fraction <= 1.0:
        raise UserError(f"ROAR fraction must be in [0, 1] (0.3 = 30% of the pixels), got {fraction!r}")
    sets = dict(splits.items())
    if fraction > 0:
        if maps is None or set(maps) != set(sets):
            raise UserError(f"ROAR at fraction {fraction} needs maps for the splits {sorted(sets)}, "
                            f"got {sorted(maps or {})}")
        for name, data in sets.items():
            if len(maps[name]) != len(data):
                raise UserError(f"{len(maps[name])} maps for the {name} split, which has {len(data)} images")
        sets = _masked_sets(sets, maps, fraction, fill, absolute=absolute, seed=seed, batch_size=256)
    spec = {**spec, "init": "random", "seed": int(seed)}
    if epochs is not None:
        spec["epochs"] = int(epochs)
    if not spec.get("epochs"):
        raise UserError(f"ROAR retrains {spec.get('dataset')!r} from scratch, but the run's epochs are 0 (a pretrained "
                        "network used as it is): set roar.epochs, or choose a roar.run trained here")
    return train_run(spec, out_dir, data=Splits(**sets),
                     extra={"roar": {"fraction": fraction, "seed": seed, **(extra or {})}})


def roar_point(train_set: ImageSet, test_set: ImageSet, train_maps: Tensor, test_maps: Tensor, fraction: float,
               train_and_test: TrainAndTest, *, fill: Fill = "channel_mean", absolute: bool = False,
               seed: int = 0, batch_size: int = 256) -> float:
    """Test accuracy of a model retrained on the sets with the top ``fraction`` of pixels removed
    (see :func:`roar_sets`)."""
    train, test = roar_sets(train_set, test_set, train_maps, test_maps, fraction, fill,
                            absolute=absolute, seed=seed, batch_size=batch_size)
    return float(train_and_test(train, test))


__all__ = ["FRACTIONS", "TrainAndTest", "random_maps", "remove_top", "retrain", "roar_point", "roar_sets"]
