"""ROAR, RemOve And Retrain (Hooker et al. 2019): replace the top fraction of pixels of every train
and test image by the train set's per-channel mean, retrain from scratch, record test accuracy.
A method whose removed pixels carry the label information drops accuracy further.

One call of :func:`roar_point` is one (method, fraction) point, so a workflow can run every
point as its own job; the training loop (and its resume) is the ``train_and_test`` callable.
The random baseline is :func:`roar_point` with :func:`random_maps`. The removal itself is
:func:`remove_top` (from ``masking``; fill every split with the train set's colour, as
:func:`roar_sets` does).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

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
              fill: Fill = "channel_mean", *, absolute: bool = False, batch_size: int = 256) -> tuple[ImageSet, ImageSet]:
    """Train and test sets with the top ``fraction`` of each image's pixels replaced.

    ``fill="channel_mean"`` is the per-channel mean of the unmodified train set, used for both
    sets (so the test images carry no statistics of their own into the fill); other fills as in
    ``masking.fill_colour``."""
    train_maps = check_maps(train_maps, train_set.images, "train_maps")
    test_maps = check_maps(test_maps, test_set.images, "test_maps")
    if train_set.images.shape[1:] != test_set.images.shape[1:]:
        raise UserError(f"train and test images differ in shape: {tuple(train_set.images.shape[1:])} "
                        f"vs {tuple(test_set.images.shape[1:])}")
    colour = fill_colour(train_set.images, fill) if fill == "channel_mean" else fill
    masked = [
        replace(s, images=remove_top(s.images, m, fraction, colour, absolute=absolute, batch_size=batch_size))
        for s, m in ((train_set, train_maps), (test_set, test_maps))
    ]
    return masked[0], masked[1]


def roar_point(train_set: ImageSet, test_set: ImageSet, train_maps: Tensor, test_maps: Tensor, fraction: float,
               train_and_test: TrainAndTest, *, fill: Fill = "channel_mean", absolute: bool = False,
               batch_size: int = 256) -> float:
    """Test accuracy of a model retrained on the sets with the top ``fraction`` of pixels removed
    (see :func:`roar_sets`)."""
    train, test = roar_sets(train_set, test_set, train_maps, test_maps, fraction, fill,
                            absolute=absolute, batch_size=batch_size)
    return float(train_and_test(train, test))


__all__ = ["FRACTIONS", "TrainAndTest", "random_maps", "remove_top", "roar_point", "roar_sets"]
