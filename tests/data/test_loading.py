"""load_dataset: every embedded view, limit, image_size, and errors that say what to do."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from attriflow.data import DATASETS, ImageSet, load_dataset
from attriflow.data.embedded import GENERATORS, cxr, textures
from attriflow.data.loading import load_arrays
from attriflow.errors import UserError

SMALL = {"cxr-phantoms": 120, "shapes": 60, "textures": 8, "digits": 300}


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    for name, gen in GENERATORS.items():
        gen(root / name, seed=0, n=SMALL[name])
    return root


def test_names_exported():
    assert {"shapes32", "shapes64", "cxr-multilabel", "cxr-severity", "cxr-zones", "cxr-weak", "cxr-probe",
            "digits"} <= set(DATASETS)
    assert {f"textures/{c}" for c in textures.CATEGORIES} <= set(DATASETS)


@pytest.mark.parametrize("name", DATASETS)
def test_every_view_loads(root, name):
    ds = load_dataset(name, root)
    assert isinstance(ds, ImageSet) and len(ds) > 0 and ds.name == name
    assert ds.images.dtype == torch.float32 and ds.images.ndim == 4
    assert 0.0 <= ds.images.min() and ds.images.max() <= 1.0
    assert ds.meta["split"] == ("probe" if name == "cxr-probe" else "train")
    if ds.masks is not None:
        assert ds.masks.dtype == torch.bool and ds.masks.shape[1] == len(ds.mask_names)
    if ds.task in ("multiclass", "binary", "zones"):
        assert ds.targets.dtype == torch.long
    else:
        assert ds.targets.dtype == torch.float32


def test_view_contents(root):
    ml = load_dataset("cxr-multilabel", root, "test")
    sev = load_dataset("cxr-severity", root, "test")
    zones = load_dataset("cxr-zones", root, "test")
    weak = load_dataset("cxr-weak", root, "test")
    assert ml.targets.shape[1] == 14 and ml.class_names == list(cxr.LABELS)
    assert ml.mask_names == list(cxr.CONCEPTS) and ml.masks.shape[1:] == (len(cxr.CONCEPTS), 64, 64)
    assert ml.images.shape[1:] == (1, 64, 64)
    assert torch.equal(sev.targets, zones.targets.sum(dim=1).float())
    assert zones.task == "zones" and zones.targets.shape[1] == 6 and int(zones.targets.max()) <= 3
    assert zones.num_outputs == 24
    assert torch.equal(weak.targets, 1 - ml.targets[:, 0].long()) and weak.class_names == ["No Finding", "Finding"]
    probe = load_dataset("cxr-probe", root)
    assert torch.equal(probe.images, load_dataset("cxr-multilabel", root, "probe").images)
    s32, s64 = load_dataset("shapes32", root, "val"), load_dataset("shapes64", root, "val")
    assert s32.images.shape[1:] == (3, 32, 32) and s64.images.shape[1:] == (3, 64, 64)
    assert s32.num_outputs == 10 and s32.mask_names == ["object"] and s32.masks.any(dim=(1, 2, 3)).all()
    tr = load_dataset("textures/screw", root)
    te = load_dataset("textures/screw", root, "test")
    assert (tr.targets == 0).all() and not tr.masks.any()
    assert torch.equal(te.masks.flatten(1).any(dim=1).long(), te.targets) and set(te.targets.tolist()) == {0, 1}
    dg = load_dataset("digits", root, "test")
    assert dg.masks is None and dg.images.shape[1:] == (1, 32, 32) and dg.class_names[3] == "3"
    raw = load_arrays("textures/screw", root, "test")
    assert set(raw) == {"images", "labels", "masks", "defects"}


def test_limit_takes_the_first_items(root):
    full = load_dataset("shapes32", root)
    part = load_dataset("shapes32", root, limit=7)
    assert len(part) == 7 and torch.equal(part.images, full.images[:7]) and torch.equal(part.masks, full.masks[:7])
    assert torch.equal(part.targets, full.targets[:7]) and part.meta["available"] == len(full)
    assert len(load_dataset("shapes32", root, limit=10_000)) == len(full)
    assert len(load_dataset("cxr-zones", root, limit=3).targets) == 3
    for bad in (-1, 2.5, "3", True):
        with pytest.raises(UserError, match="limit"):
            load_dataset("shapes32", root, limit=bad)


def test_image_size_resizes_images_and_masks(root):
    full = load_dataset("textures/carpet", root, "test")
    small = load_dataset("textures/carpet", root, "test", image_size=32)
    assert small.images.shape == (len(full), 3, 32, 32) and small.masks.shape == (len(full), 1, 32, 32)
    assert 0.0 <= small.images.min() and small.images.max() <= 1.0
    # area-like averaging: the mean colour is kept
    assert torch.allclose(small.images.mean(dim=(2, 3)), full.images.mean(dim=(2, 3)), atol=0.01)
    # defect masks shrink with the image: at least a quarter of the pixels (any coverage counts),
    # and only where there was a defect
    assert not (small.masks.flatten(1).any(dim=1) & ~full.masks.flatten(1).any(dim=1)).any()
    ratio = small.masks.sum().item() / full.masks.sum().item()
    assert 0.25 <= ratio < 0.75
    same = load_dataset("textures/carpet", root, "test", image_size=64)
    assert torch.equal(same.images, full.images)
    rect = load_dataset("cxr-probe", root, image_size=(48, 40))
    assert rect.images.shape[-2:] == (48, 40) and rect.masks.shape[-2:] == (48, 40)
    with pytest.raises(UserError, match="image_size"):
        load_dataset("digits", root, image_size=0)


@pytest.mark.parametrize("size", [32, 16, (20, 12)])
def test_downsampled_masks_keep_every_defect_pixel(root, size):
    """Any coverage counts: every defect pixel lies in a masked low-resolution cell, so thin
    scratches and cracks never vanish and no non-empty mask becomes empty."""
    for category in textures.CATEGORIES:
        full = load_dataset(f"textures/{category}", root, "test")
        small = load_dataset(f"textures/{category}", root, "test", image_size=size)
        assert torch.equal(small.masks.flatten(1).any(dim=1), full.masks.flatten(1).any(dim=1)), category
        # each masked source pixel's low-resolution cell is masked (nearest upsampling covers it)
        back = torch.nn.functional.interpolate(small.masks.float(), size=full.masks.shape[-2:], mode="nearest") > 0
        assert not (full.masks & ~back).any(), category
    line = torch.zeros(1, 1, 64, 64, dtype=torch.bool)
    line[0, 0, 8:48, 31] = True  # a one-pixel-wide scratch: bilinear + 0.5 would erase it at 16 px
    from attriflow.data.loading import _resize

    _, kept = _resize(torch.zeros(1, 3, 64, 64), line, (16, 16))
    assert kept.sum() == 10 and kept[0, 0, :, 7].sum() == 10


def test_unknown_names_and_splits(root):
    with pytest.raises(UserError) as err:
        load_dataset("shapes16", root)
    assert "'shapes16'" in str(err.value) and "shapes32" in str(err.value) and "textures/<category>" in str(err.value)
    with pytest.raises(UserError, match="carpet"):
        load_dataset("textures", root)
    with pytest.raises(UserError, match="carpet"):
        load_dataset("textures/velvet", root)
    with pytest.raises(UserError, match="is not at .*cifar10; place it with `attriflow data fetch cifar10"):
        load_dataset("cifar10", root)  # a real view whose files are absent
    with pytest.raises(UserError) as err:
        load_dataset("digits", root, split="val")
    assert "'val'" in str(err.value) and "train, test" in str(err.value)
    with pytest.raises(UserError, match="probe"):
        load_dataset("shapes64", root, split="probe")


def test_missing_incomplete_and_stale_data(root, tmp_path):
    with pytest.raises(UserError) as err:
        load_dataset("shapes32", tmp_path)
    assert "attriflow data generate shapes" in str(err.value) and "does not exist" in str(err.value)
    (tmp_path / "digits" / "train").mkdir(parents=True)
    with pytest.raises(UserError, match="incomplete.*attriflow data generate digits"):
        load_dataset("digits", tmp_path)
    stale = tmp_path / "stale"
    shutil.copytree(root / "digits", stale / "digits")
    meta = json.loads((stale / "digits" / "meta.json").read_text())
    meta["version"] = 0
    (stale / "digits" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match="version 0.*attriflow data generate digits"):
        load_dataset("digits", stale)
    # a dataset written with pickled objects would be refused, not executed
    np.save(root / "digits" / "train" / "evil.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    try:
        with pytest.raises(ValueError):
            load_dataset("digits", root)
    finally:
        (root / "digits" / "train" / "evil.npy").unlink()
