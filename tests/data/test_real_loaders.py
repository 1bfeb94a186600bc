"""Every real-dataset loader on miniatures in the publisher's on-disk format: counts, labels, masks,
boxes, disjoint splits, and errors that name the file and what was expected."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from attriflow.data import load_dataset
from attriflow.data.real import REAL_VIEWS
from attriflow.data.real._common import limit_index
from attriflow.data.real.vision import MVTEC_CATEGORIES as REAL_VIEWS_MVTEC
from attriflow.data.real.chest import CHEXPERT_LABELS, COVID_STRUCTURES, NIH_BOX_CLASSES
from attriflow.data.streaming import StreamingSet, batches, make_loader
from attriflow.errors import UserError
from tests.data import miniatures


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("real")
    root.joinpath("truth.pkl").write_bytes(pickle.dumps(miniatures.build_all(root)))
    return root


@pytest.fixture(scope="module")
def truth(root) -> dict:
    return pickle.loads(root.joinpath("truth.pkl").read_bytes())


def _copy(root: Path, tmp_path: Path, name: str) -> Path:
    """A private copy of one dataset to break."""
    shutil.copytree(root / name, tmp_path / name, symlinks=True)
    return tmp_path


@pytest.mark.parametrize("view", sorted(v for v in REAL_VIEWS if not v.startswith("mvtec-ad/")) + ["mvtec-ad/bottle", "mvtec-ad/grid"])
def test_every_view_streams_batches(root, view):
    """Each split of each view decodes, resizes and batches through a DataLoader with a worker."""
    for split in REAL_VIEWS[view].splits:
        data = load_dataset(view, root, split, image_size=24)
        assert isinstance(data, StreamingSet) and len(data) > 0 and data.meta["split"] == split
        x, y = next(iter(make_loader(data, 4, num_workers=1)))
        assert x.dtype == torch.float32 and x.shape[1:] == (data.channels, 24, 24) and 0 <= x.min() and x.max() <= 1
        assert len(y) == min(4, len(data))
        if data.mask_names:
            _, _, m = data.sample(0)
            assert m.dtype == torch.bool and m.shape == (len(data.mask_names), 24, 24)


def test_splits_are_disjoint_and_patients_never_cross(root):
    for view in ("chexpert-multilabel", "brixia-severity", "chexpert-nih-weak"):
        parts = {s: {str(r) for r in load_dataset(view, root, s).refs} for s in ("train", "val", "test")}
        assert all(parts.values()) and not (parts["train"] & parts["val"]) and not (parts["train"] & parts["test"])
        assert not (parts["val"] & parts["test"])
    patient = lambda p: Path(p).parts[-3]  # noqa: E731  .../train/patient00001/study1/view1.jpg
    tr = {patient(p) for p in load_dataset("chexpert-multilabel", root, "train").refs}
    va = {patient(p) for p in load_dataset("chexpert-multilabel", root, "val").refs}
    assert tr and va and not tr & va
    for view in ("birdsnap", "mvtec-ad/bottle", "retinal-oct"):
        a, b = load_dataset(view, root, "train"), load_dataset(view, root, "test")
        assert not {str(r) for r in a.refs} & {str(r) for r in b.refs}


def test_chexpert_labels_follow_u_zeros(root, truth):
    data = load_dataset("chexpert-multilabel", root, "test")
    assert data.class_names == list(CHEXPERT_LABELS) and data.task == "multilabel"
    assert len(data) == 6  # valid.csv: 3 patients x (frontal, lateral)
    for ref, target in zip(data.refs, data.targets):
        rel = "/".join(Path(ref).parts[-4:])
        assert target.tolist() == truth["chexpert"][rel]  # 1 -> 1; 0, -1 and blank -> 0
    train = load_dataset("chexpert-multilabel", root, "train")
    val = load_dataset("chexpert-multilabel", root, "val")
    assert len(train) + len(val) == 20 and "U-Zeros" in train.meta["uncertain_labels"]


def test_brixia_dicom_scores_splits_and_inversion(root, truth):
    zones = load_dataset("brixia-zones", root, "test")
    severity = load_dataset("brixia-severity", root, "test")
    assert len(zones) == 3 and zones.task == "zones" and zones.num_outputs == 24
    for ref, z, s in zip(zones.refs, zones.targets, severity.targets):
        t = truth["brixia"][Path(ref).name]
        assert t["test"] and z.tolist() == t["zones"] and s.item() == sum(t["zones"])
    train = load_dataset("brixia-severity", root, "train")
    subjects = lambda d: {int(Path(r).stem) // 2 for r in d.refs}  # noqa: E731  two images per subject
    assert not subjects(train) & subjects(load_dataset("brixia-severity", root, "val"))
    for i, ref in enumerate(train.refs):
        t = truth["brixia"][Path(ref).name]
        x, _, _ = train.sample(i)
        expected = (255 - int(t["grey"])) if t["inverted"] else int(t["grey"])  # MONOCHROME1 is inverted
        assert abs(x[0, 0, 0].item() * 255 - expected) <= 1


def test_nih_findings_official_split_and_boxes(root, truth):
    test = load_dataset("chexpert-nih-weak", root, "test")
    nih_refs = [r for r in test.refs if "part_" in str(r)]
    assert {Path(r).name for r in nih_refs} == truth["nih-chestxray8"]["test"]  # the official test_list.txt
    for ref, y in zip(test.refs, test.targets):
        if "part_" in str(ref):
            assert y.item() == truth["nih-chestxray8"]["finding"][Path(ref).name]
    boxes = load_dataset("nih-bbox", root)
    assert len(boxes) == 3 and boxes.mask_names == list(NIH_BOX_CLASSES)
    for i, ref in enumerate(boxes.refs):
        name = Path(ref[0]).name
        _, target, masks = boxes.sample(i)
        for cls, x, y, w, h in truth["nih-chestxray8"]["boxes"][name]:
            k = NIH_BOX_CLASSES.index(cls)
            assert target[k] == 1
            inside = masks[k, int(np.ceil(y)):int(y + h), int(np.ceil(x)):int(x + w)]
            assert inside.all() and masks[k].sum() <= (np.ceil(w) + 1) * (np.ceil(h) + 1)
        assert target.sum() == len({c for c, *_ in truth["nih-chestxray8"]["boxes"][name]})


def test_mask_batches_of_a_concept_set(root):
    data = load_dataset("covid19-masks", root, image_size=24)
    x, y, m = next(batches(data, 3, masks=True, num_workers=1))
    assert x.shape == (3, 1, 24, 24) and m.shape == (3, len(COVID_STRUCTURES), 24, 24) and m.dtype == torch.bool
    assert torch.equal(m.flatten(2).any(2).float(), y)  # a structure is labelled exactly when its mask is drawn
    with pytest.raises(UserError, match="has no masks"):
        next(batches(load_dataset("cifar10", root), 2, masks=True))


def test_covid_masks_are_pasted_at_their_offsets(root, truth):
    data = load_dataset("covid19-masks", root)
    assert len(data) == 3 and data.mask_names == list(COVID_STRUCTURES)
    for i, ref in enumerate(data.refs):
        _, target, masks = data.sample(i)
        expected = truth["covid19-cxr-seg"][Path(ref[0]).name]
        assert int(masks.flatten(1).any(1).sum()) == len(expected) == int(target.sum())
        for template, left, top, w, h in expected:
            plane = masks[COVID_STRUCTURES.index(template)]
            ys, xs = torch.nonzero(plane, as_tuple=True)
            # the patch's drawn part starts one pixel in; clipped at the image border
            assert ys.min() == top + 1 and xs.min() == left + 1
            assert ys.max() == min(top + h, miniatures.SIZE) - 1 and xs.max() == min(left + w, miniatures.SIZE) - 1


def test_torchvision_layouts(root, truth):
    train, test = load_dataset("cifar10", root, "train"), load_dataset("cifar10", root)
    batches = [truth["cifar10"][f"data_batch_{i}"] for i in range(1, 6)]
    assert len(train) == sum(map(len, batches)) and train.class_names[0] == "airplane"
    assert train.targets.tolist() == sum(batches, [])
    x, y = train[len(batches[0]) + 2]  # an item of the second batch
    assert x.shape == (3, 32, 32) and abs(x[0].mean().item() - 200 / 255) < 1e-6  # red plane first
    assert abs(x[1].mean().item() - (10 * y.item() + 1) / 255) < 1e-6  # batch 2, value 10 * label + 1
    assert load_dataset("cifar10", root, "test").targets.tolist() == truth["cifar10"]["test_batch"]
    for name in ("mnist", "fashion-mnist"):
        tr, te = load_dataset(name, root, "train"), load_dataset(name, root, "test")
        assert tr.targets.tolist() == truth[name]["train"] and te.targets.tolist() == truth[name]["t10k"]
        x, y = tr[3]
        assert x.shape == (1, 28, 28) and abs(x.mean().item() - 20 * y.item() / 255) < 1e-6


def test_mvtec_labels_and_masks(root):
    for cat in ("bottle", "grid"):
        train, test = load_dataset(f"mvtec-ad/{cat}", root), load_dataset(f"mvtec-ad/{cat}", root, "test")
        assert len(train) == 4 and (train.targets == 0).all()
        assert len(test) == 6 and test.targets.tolist().count(1) == 4
        full = test.materialise(progress=False)
        assert full.images.shape[1] == 3  # grey categories are read as RGB like the others
        assert torch.equal(full.masks.flatten(1).any(1).long(), full.targets)


def test_imagenet_uses_the_weights_class_order(root, truth):
    data = load_dataset("imagenet-val", root, "val", image_size=32)
    assert len(data.class_names) == 1000 and data.class_names[0] == "tench" and data.num_outputs == 1000
    for ref, y in zip(data.refs, data.targets):
        assert y.item() == truth["imagenet-val"][Path(ref).parent.name]


def test_birdsnap_and_one_class_medical_sets(root, truth):
    test = load_dataset("birdsnap", root, "test")
    assert sorted(f"{Path(r).parent.name}/{Path(r).name}" for r in test.refs) == sorted(truth["birdsnap"]["test"])
    assert load_dataset("birdsnap", root).targets.tolist() == [0, 0, 1, 1, 2, 2]
    oct_train, oct_test = load_dataset("retinal-oct", root), load_dataset("retinal-oct", root, "test")
    assert len(oct_train) == 3 and (oct_train.targets == 0).all() and oct_test.targets.tolist() == [0, 0] + [1] * 6
    for name in ("headct", "brainmri"):
        tr, te = load_dataset(name, root), load_dataset(name, root, "test")
        t = truth[name]
        assert (tr.targets == 0).all() and len(tr) == round(0.8 * t["normal"])
        assert int((te.targets == 0).sum()) + len(tr) == t["normal"] and int(te.targets.sum()) == t["abnormal"]
        assert not {str(r) for r in tr.refs} & {str(r) for r in te.refs}


def test_limit_is_a_seeded_subset_and_batches_keep_order(root):
    full = load_dataset("cifar10", root, "train")
    part = load_dataset("cifar10", root, "train", limit=7)
    again = load_dataset("cifar10", root, "train", limit=7)
    assert len(part) == 7 and part.refs == again.refs and part.refs == sorted(part.refs)
    assert part.refs != full.refs[:7]  # not simply the first files (real sets are sorted by class)
    xs = torch.cat([x for x, _ in batches(full, 4, num_workers=2)])
    assert torch.equal(xs, full.materialise(progress=False).images)


def test_limit_keeps_every_class_of_a_multiclass_view_and_its_proportions(root):
    full = load_dataset("cifar10", root, "train")
    k = len(full.class_names)
    part = load_dataset("cifar10", root, "train", limit=k)
    assert sorted(part.targets.tolist()) == list(range(k))  # one of each class, whatever the file order
    # the bare rule on a skewed labelling: proportions kept, reproducible, a subset in file order
    labels = np.repeat([0, 1, 2], [800, 150, 50])
    kept = limit_index(len(labels), 100, seed=3, labels=labels)
    assert np.array_equal(kept, limit_index(len(labels), 100, seed=3, labels=labels))
    assert np.array_equal(kept, np.sort(kept)) and len(set(kept.tolist())) == 100
    assert np.bincount(labels[kept]).tolist() == [80, 15, 5]
    assert set(labels[limit_index(len(labels), 3, seed=4, labels=labels)].tolist()) == {0, 1, 2}


# ---------------------------------------------------------------- errors that name the file

def test_wrong_layout_missing_column_unreadable_image_unknown_label(root, tmp_path):
    with pytest.raises(UserError, match=r"CheXpert.*is not at .*chexpert/root.*attriflow data locate chexpert"):
        load_dataset("chexpert-multilabel", tmp_path)

    broken = _copy(root, tmp_path / "a", "chexpert")
    csv = broken / "chexpert" / "root" / "train.csv"
    csv.write_text(csv.read_text().replace("Pleural Effusion", "Effusion", 1))
    with pytest.raises(UserError, match=r"train\.csv: missing column\(s\) \['Pleural Effusion'\]"):
        load_dataset("chexpert-multilabel", broken)

    broken = _copy(root, tmp_path / "b", "chexpert")
    csv = broken / "chexpert" / "root" / "valid.csv"
    lines = csv.read_text().splitlines()
    lines[1] = lines[1].rsplit(",", 1)[0] + ",2.0"
    csv.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match=r"valid\.csv: row 2, column 'Support Devices' is 2\.0; expected 1, 0, -1 or blank"):
        load_dataset("chexpert-multilabel", broken, "test")

    broken = _copy(root, tmp_path / "c", "nih-chestxray8")
    image = sorted((broken / "nih-chestxray8").glob("part_001/images/*.png"))[0]  # it has boxes
    image.write_bytes(b"not a png")
    data = load_dataset("nih-bbox", broken)
    with pytest.raises(UserError, match=rf"{image.name}: unreadable image .*expected a PNG or JPEG"):
        for i in range(len(data)):
            data.sample(i)

    box = broken / "nih-chestxray8" / "BBox_List_2017.csv"
    box.write_text(box.read_text().replace("Mass", "Tumour"))
    with pytest.raises(UserError, match=r"BBox_List_2017\.csv: row \d+, Finding Label 'Tumour'; expected one of .*Atelectasis"):
        load_dataset("nih-bbox", broken)

    broken = _copy(root, tmp_path / "d", "brixia")
    meta = broken / "brixia" / "root" / "metadata_global_v2.csv"
    lines = meta.read_text().splitlines()
    cells = lines[1].split(";")
    cells[10] = "0140x0"
    lines[1] = ";".join(cells)
    meta.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match=r"metadata_global_v2\.csv: row 2, BrixiaScore is '0140x0'; expected six digits"):
        load_dataset("brixia-zones", broken)

    broken = _copy(root, tmp_path / "e", "brixia")
    dcm = sorted((broken / "brixia" / "root" / "dicom_clean").glob("*.dcm"))[0]
    dcm.write_bytes(b"garbage")
    data = load_dataset("brixia-zones", broken, "train")
    with pytest.raises(UserError, match=rf"{dcm.name}: unreadable DICOM image"):
        for i in range(len(data)):
            data.sample(i)

    broken = _copy(root, tmp_path / "f", "imagenet-val")
    (broken / "imagenet-val" / "root" / "cats").mkdir()
    with pytest.raises(UserError, match=r"'cats' is not an ILSVRC-2012 synset"):
        load_dataset("imagenet-val", broken)

    broken = _copy(root, tmp_path / "g", "mvtec-ad")
    next((broken / "mvtec-ad").glob("**/bottle/ground_truth/broken/000_mask.png")).unlink()
    with pytest.raises(UserError, match=r"000_mask\.png is missing: every defective test image"):
        load_dataset("mvtec-ad/bottle", broken, "test")
    with pytest.raises(UserError, match="mvtec-ad category 'velvet'"):
        load_dataset("mvtec-ad/velvet", broken)

    broken = _copy(root, tmp_path / "h", "mnist")
    (broken / "mnist" / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").write_bytes(
        (broken / "mnist" / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz").read_bytes())
    with pytest.raises(UserError, match=r"t10k-labels-idx1-ubyte\.gz: idx magic number 2051, expected 2049"):
        load_dataset("mnist", broken, "test")

    with pytest.raises(UserError, match="has no split 'val'"):
        load_dataset("cifar10", root, "val")


def test_cli_lists_views_and_what_loads(root, capsys, tmp_path):
    from attriflow.cli import main

    assert main(["data", "views", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "brixia-zones" in out and "[zones, " in out and "[binary, 4 train items]" in out  # mvtec-ad/bottle
    assert "not loadable" not in out  # every view of the complete miniature loads
    partial = _copy(root, tmp_path, "mvtec-ad")
    shutil.rmtree(next((partial / "mvtec-ad").glob("**/zipper")))
    assert main(["data", "views", "--root", str(partial)]) == 0
    broken = {line.split()[0] for line in capsys.readouterr().out.splitlines() if "not loadable" in line}
    assert {f"mvtec-ad/{c}" for c in REAL_VIEWS_MVTEC} & broken == {"mvtec-ad/zipper"}  # the category removed
