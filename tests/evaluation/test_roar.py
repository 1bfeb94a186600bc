"""ROAR: removing the label's region by a ground-truth map drops a retrained model to chance,
random removal does not; the masking and its command."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attriflow.cli import main
from attriflow.data.imageset import ImageSet
from attriflow.errors import UserError
from attriflow.evaluation.masking import remove_top
from attriflow.evaluation.roar import random_maps, roar_point, roar_sets

SIZE, REGION = 8, 4  # the label lives in the top-left 4 x 4 pixels: 25% of the image


def region_task(n: int, seed: int) -> ImageSet:
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=g)
    x = torch.rand(n, 1, SIZE, SIZE, generator=g)
    level = 0.2 + 0.6 * labels.float()
    x[:, :, :REGION, :REGION] = (level.view(n, 1, 1, 1) + 0.1 * torch.randn(n, 1, REGION, REGION, generator=g)).clamp(0, 1)
    return ImageSet(images=x, targets=labels, task="binary", class_names=["dark", "bright"], name="region")


def logistic_regression(train: ImageSet, test: ImageSet) -> float:
    """A fresh logistic regression trained full-batch; test accuracy."""
    torch.manual_seed(0)
    model = torch.nn.Linear(SIZE * SIZE, 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    xs, ys = train.images.flatten(1), train.targets
    for _ in range(150):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xs), ys).backward()
        opt.step()
    with torch.no_grad():
        return float((model(test.images.flatten(1)).argmax(1) == test.targets).float().mean())


def truth_maps(n: int) -> torch.Tensor:
    maps = torch.zeros(n, SIZE, SIZE)
    maps[:, :REGION, :REGION] = 1.0
    return maps


def test_ground_truth_removal_drops_to_chance_random_removal_does_not():
    train, test = region_task(600, seed=0), region_task(400, seed=1)
    unmodified = roar_point(train, test, truth_maps(600), truth_maps(400), 0.0, logistic_regression)
    truth = roar_point(train, test, truth_maps(600), truth_maps(400), 0.25, logistic_regression)
    random = roar_point(train, test, random_maps(600, SIZE, SIZE, seed=2), random_maps(400, SIZE, SIZE, seed=3), 0.25,
                        logistic_regression)
    assert unmodified > 0.95
    assert abs(truth - 0.5) < 0.08, truth
    assert random > 0.9, random


def test_remove_top_removes_exactly_the_top_fraction_in_all_channels():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 3, 10, 10, generator=g)
    maps = torch.randn(3, 10, 10, generator=g)
    out = remove_top(x, maps, 0.3, fill=[0.1, 0.2, 0.3], batch_size=2)
    for i in range(3):
        top = maps[i].flatten().argsort(descending=True)[:30]
        changed = (out[i] != x[i]).flatten(1)
        assert changed.any(0).sum() == 30 and changed[:, top].all()
        np.testing.assert_allclose(out[i].flatten(1)[:, top].T, torch.tensor([0.1, 0.2, 0.3]).expand(30, 3))
    by_abs = remove_top(x, maps, 0.3, fill=0.0, absolute=True)
    top_abs = maps[0].abs().flatten().argsort(descending=True)[:30]
    assert (by_abs[0].flatten(1)[:, top_abs] == 0).all()


def test_test_set_is_filled_with_the_train_sets_mean_colour():
    train, test = region_task(50, seed=0), region_task(20, seed=1)
    _, masked_test = roar_sets(train, test, truth_maps(50), truth_maps(20), 0.25)
    colour = train.images.mean()
    torch.testing.assert_close(masked_test.images[:, 0, :REGION, :REGION], colour.expand(20, REGION, REGION))
    assert masked_test.targets is test.targets and masked_test.task == "binary"
    with pytest.raises(UserError, match="fraction must be in"):
        roar_sets(train, test, truth_maps(50), truth_maps(20), 30)
    with pytest.raises(UserError, match="test_maps"):
        roar_sets(train, test, truth_maps(50), truth_maps(21), 0.3)


def test_roar_mask_command(tmp_path):
    train, test = region_task(12, seed=0), region_task(6, seed=1)
    np.savez(tmp_path / "train.npz", images=train.images.numpy(), targets=train.targets.numpy())
    np.savez(tmp_path / "test.npz", images=test.images.numpy(), targets=test.targets.numpy())
    np.savez(tmp_path / "maps.npz", maps=truth_maps(6).numpy(), method=np.array("truth"))
    out = tmp_path / "masked.npz"
    assert main(["roar-mask", "--images", str(tmp_path / "test.npz"), "--maps", str(tmp_path / "maps.npz"),
                 "--fraction", "0.25", "--fill-from", str(tmp_path / "train.npz"), "--out", str(out)]) == 0
    with np.load(out) as data:
        np.testing.assert_array_equal(data["targets"], test.targets.numpy())
        expected = remove_top(test.images, truth_maps(6), 0.25, train.images.mean((0, 2, 3)))
        np.testing.assert_allclose(data["images"], expected.numpy())
    assert main(["roar-mask", "--images", str(tmp_path / "test.npz"), "--random", "3", "--fraction", "0.5",
                 "--fill", "0.5", "--out", str(out)]) == 0
    with np.load(out) as data:
        assert ((data["images"] == 0.5).all(1).reshape(6, -1).sum(1) >= 32).all()
    assert main(["roar-mask", "--images", str(tmp_path / "test.npz"), "--random", "3", "--fraction", "0.5",
                 "--fill", "grey", "--out", str(out)]) == 1


def plateau_maps(n: int) -> torch.Tensor:
    """Maps that are zero everywhere except one bright pixel: a plateau, like GradCAM after its ReLU."""
    maps = torch.zeros(n, SIZE, SIZE)
    maps[:, SIZE - 1, SIZE - 1] = 1.0
    return maps


def test_ties_are_broken_at_random_reproducibly_and_whatever_the_chunks():
    x = torch.rand(6, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    removed = lambda out: (out != x)[:, 0]  # noqa: E731
    a = removed(remove_top(x, plateau_maps(6), 0.25, fill=-1.0, seed=7, batch_size=4))
    # the bright pixel first, then 15 of the 63 tied zeros: not the first rows in raster order
    assert a[:, SIZE - 1, SIZE - 1].all() and (a.flatten(1).sum(1) == 16).all()
    assert not a[:, 0].all(), "ties were broken by raster position (the whole first row removed)"
    torch.testing.assert_close(a, removed(remove_top(x, plateau_maps(6), 0.25, fill=-1.0, seed=7, batch_size=1)))
    other = removed(remove_top(x, plateau_maps(6), 0.25, fill=-1.0, seed=8))
    assert not torch.equal(a, other)
    assert not all(torch.equal(a[0], a[i]) for i in range(1, 6)), "every image drew the same tie order"


def test_retrain_is_the_one_roar_path_with_a_zero_point_and_shares(tmp_path):
    from attriflow.evaluation.roar import retrain
    from attriflow.models.training_data import Splits

    splits = Splits(region_task(96, 0), region_task(32, 1), region_task(32, 2))
    spec = {"model": "resnet8", "model_kwargs": {"width": 0.25}, "dataset": "region", "epochs": 1, "batch_size": 32,
            "seed": 0, "device": "cpu", "init": "some-run"}
    zero = retrain(spec, splits, None, 0.0, tmp_path / "zero", extra={"method": "none"})
    assert zero["roar"] == {"fraction": 0.0, "seed": 0, "method": "none"} and zero["epochs"] == 1
    maps = {name: truth_maps(len(s)) for name, s in splits.items()}
    point = retrain(spec, splits, maps, 0.25, tmp_path / "truth", epochs=2)
    assert point["roar"]["fraction"] == 0.25 and point["epochs"] == 2
    repeat = retrain(spec, splits, None, 0.0, tmp_path / "zero-seed1", seed=1)
    assert repeat["seed"] == 1 and repeat["roar"]["seed"] == 1  # a ROAR repeat trains under its own seed
    assert repeat["val"]["loss"] != zero["val"]["loss"]
    with pytest.raises(UserError, match="fraction must be in"):
        retrain(spec, splits, maps, 25, tmp_path / "percent")
    with pytest.raises(UserError, match="needs maps"):
        retrain(spec, splits, None, 0.25, tmp_path / "nomaps")
