"""Chest X-ray sets of semantic-cxr: CheXpert, BrixIA (DICOM), NIH ChestX-ray8 (labels and boxes), and
the COVID-19 segmentation set, read as their publishers ship them and labelled as the authors'
code (CAMP-eXplain-AI/CheXplain-Dissection, ``src/features``) labels them.

- CheXpert ``train.csv`` / ``valid.csv``: the 14 label columns; uncertain (-1) and blank are 0,
  positive (1) is 1 (the authors' ``uncertainty=False`` default, "U-Zeros"). Test = the official
  ``valid.csv`` (the test set is not public); val = a seeded 10% of the training *patients*.
- BrixIA ``metadata_global_v2.csv`` (``;``-separated) and ``dicom_clean/<Filename>``: the
  6-digit ``BrixiaScore`` (zones A..F, 0..3) and ``BrixiaScoreGlobal`` (0..18); test =
  ``ConsensusTestset == 1``; val = a seeded 10% of the other *subjects* (the authors drew 10% of
  images at random, unseeded). DICOM pixels are scaled by 4095 or 65535 and MONOCHROME1 inverted,
  as the authors' preprocessing does.
- NIH ``Data_Entry_2017.csv`` (``Finding Labels``, ``Patient ID``) with the official
  ``train_val_list.txt`` / ``test_list.txt`` when present (else a seeded 20% of patients is
  test), and ``BBox_List_2017.csv`` (984 boxes, 8 classes) as the concept set ``nih-bbox``.
- COVID-19 segmentations: ``structure.csv`` (Filename, Template Name, Mask, Left, Top) with mask
  patches placed at their offsets: the concept set ``covid19-masks`` (14 structures).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from attriflow.data.real._common import (SPLIT_SEED, ImageDecoder, dataset_root, find_one, read_image, read_mask,
                                         read_table, seeded_fraction)
from attriflow.data.streaming import StreamingSet
from attriflow.errors import UserError

CHEXPERT_LABELS = ("No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema",
                   "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other",
                   "Fracture", "Support Devices")
BRIXIA_ZONES = ("A", "B", "C", "D", "E", "F")
NIH_BOX_CLASSES = ("Atelectasis", "Cardiomegaly", "Effusion", "Infiltrate", "Mass", "Nodule", "Pneumonia", "Pneumothorax")
COVID_STRUCTURES = ("Left Lung", "Right Lung", "Cardiomediastinum", "Airways", "Ground Glass Opacities", "Consolidation",
                    "Pleural Effusion", "Pneumothorax", "Endotracheal Tube", "Central Venous Line", "Monitoring Probes",
                    "Nosogastric Tube", "Chest tube", "Tubings")
VAL_FRACTION = 0.1
CHEST_MODE = "L"  # grey; models with 3 input channels get it repeated by the caller's model kwargs


# ---------------------------------------------------------------- CheXpert

def _chexpert_path(root: Path, rel: str) -> Path:
    """CSV paths start with the archive's folder name (``CheXpert-v1.0-small/train/...``)."""
    p = Path(rel)
    direct = root / p
    return direct if direct.exists() or len(p.parts) < 2 else root / Path(*p.parts[1:])


def chexpert_records(data_root, split: str, frontal_only: bool = False):
    """(paths, labels float (N, 14) of 0/1, patient ids) of one CheXpert split."""
    root = dataset_root(data_root, "chexpert")
    csv = root / ("valid.csv" if split == "test" else "train.csv")
    df = read_table(csv, ("Path",) + CHEXPERT_LABELS)
    raw = df[list(CHEXPERT_LABELS)].to_numpy(dtype=float, na_value=np.nan)
    bad = ~(np.isnan(raw) | np.isin(raw, (-1.0, 0.0, 1.0)))
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise UserError(f"{csv}: row {r + 2}, column {CHEXPERT_LABELS[c]!r} is {float(raw[r, c])}; expected 1, 0, -1 or blank")
    patients = [m.group(0) if (m := re.search(r"patient\d+", p)) else p for p in df["Path"]]
    keep = np.ones(len(df), dtype=bool)
    if frontal_only:
        keep &= ~df["Path"].str.contains("lateral").to_numpy()
    if split in ("train", "val"):
        held = seeded_fraction(patients, VAL_FRACTION)
        keep &= held if split == "val" else ~held
    labels = (raw == 1.0).astype(np.float32)  # U-Zeros: uncertain and blank are negative
    idx = np.flatnonzero(keep)
    return [_chexpert_path(root, df["Path"].iat[i]) for i in idx], labels[idx], [patients[i] for i in idx]


def chexpert_multilabel(data_root, split: str) -> StreamingSet:
    paths, labels, patients = chexpert_records(data_root, split)
    return StreamingSet(paths, ImageDecoder(CHEST_MODE), torch.from_numpy(labels), "multilabel", 1,
                        class_names=list(CHEXPERT_LABELS), name="chexpert-multilabel",
                        meta={"uncertain_labels": "U-Zeros (-1 and blank are 0)", "patients": len(set(patients))})


# ---------------------------------------------------------------- BrixIA

@dataclass(frozen=True)
class DicomDecoder:
    """A DICOM image as uint8 grey: scaled by 4095 (12 bit) or 65535, MONOCHROME1 inverted."""

    def __call__(self, path) -> tuple[np.ndarray, None]:
        import pydicom
        from pydicom.errors import InvalidDicomError

        try:
            ds = pydicom.dcmread(path)
            pixels = ds.pixel_array.astype(np.float64)
        except FileNotFoundError:
            raise UserError(f"{path}: DICOM file is missing (listed in metadata_global_v2.csv)") from None
        except (InvalidDicomError, AttributeError, ValueError, OSError) as exc:
            raise UserError(f"{path}: unreadable DICOM image ({exc}); expected a DICOM file with pixel data") from exc
        top = 4095.0 if pixels.max() <= 4095 else 65535.0
        grey = np.clip(pixels / top * 255.0, 0, 255).astype(np.uint8)
        if str(getattr(ds, "PhotometricInterpretation", "")) == "MONOCHROME1":
            grey = 255 - grey
        return grey, None


BRIXIA_COLUMNS = ("Filename", "Subject", "BrixiaScore", "BrixiaScoreGlobal", "ConsensusTestset")


def brixia(data_root, split: str, target: str) -> StreamingSet:
    """``target``: ``severity`` (float (N,) 0..18) or ``zones`` (long (N, 6) 0..3)."""
    root = dataset_root(data_root, "brixia")
    csv = root / "metadata_global_v2.csv"
    df = read_table(csv, BRIXIA_COLUMNS, sep=";", dtype={"BrixiaScore": str})
    for i, score in enumerate(df["BrixiaScore"]):
        if not (isinstance(score, str) and re.fullmatch(r"[0-3]{6}", score)):
            raise UserError(f"{csv}: row {i + 2}, BrixiaScore is {score!r}; expected six digits 0-3 (zones A-F)")
    zones = np.array([[int(c) for c in s] for s in df["BrixiaScore"]], dtype=np.int64)
    total = df["BrixiaScoreGlobal"].to_numpy()
    if not np.array_equal(total, zones.sum(1)):
        i = int(np.flatnonzero(total != zones.sum(1))[0])
        raise UserError(f"{csv}: row {i + 2}, BrixiaScoreGlobal {total[i]} is not the sum of BrixiaScore {df['BrixiaScore'].iat[i]}")
    test = df["ConsensusTestset"].to_numpy() == 1
    held = seeded_fraction(df["Subject"].astype(str).tolist(), VAL_FRACTION) & ~test
    keep = {"test": test, "val": held, "train": ~test & ~held}[split]
    idx = np.flatnonzero(keep)
    paths = [root / "dicom_clean" / df["Filename"].iat[i] for i in idx]
    if target == "zones":
        targets, task, names = torch.from_numpy(zones[idx]), "zones", list(BRIXIA_ZONES)
    else:
        targets, task, names = torch.from_numpy(zones[idx].sum(1).astype(np.float32)), "regression", ["severity"]
    return StreamingSet(paths, DicomDecoder(), targets, task, 1, class_names=names, name=f"brixia-{target}",
                        meta={"split_rule": "test = ConsensusTestset; val = 10% of subjects, seed 0"})


# ---------------------------------------------------------------- NIH ChestX-ray8

def _nih_index(root: Path) -> dict[str, Path]:
    """Image file name -> path, over the 12 extracted parts (``part_*/images/``) or one ``images/`` folder."""
    files = sorted(root.glob("part_*/images/*.png")) + sorted(root.glob("images/*.png"))
    return {p.name: p for p in files}


def _nih_lookup(index: dict[str, Path], root: Path, name: str, listed_in: Path) -> Path:
    if name not in index:
        raise UserError(f"{listed_in} lists {name}, which is not under {root}/part_*/images/ (or {root}/images/)")
    return index[name]


def nih_records(data_root, split: str):
    """(paths, finding 0/1, patient ids) of one NIH split (official lists when present)."""
    root = dataset_root(data_root, "nih-chestxray8")
    csv = root / "Data_Entry_2017.csv"
    df = read_table(csv, ("Image Index", "Finding Labels", "Patient ID"))
    names = df["Image Index"].tolist()
    patients = df["Patient ID"].astype(str).tolist()
    test_list = root / "test_list.txt"
    if test_list.is_file():
        listed = set(test_list.read_text().split())
        test = np.array([n in listed for n in names])
    else:
        test = seeded_fraction(patients, 0.2, seed=SPLIT_SEED + 1)
    held = seeded_fraction(patients, VAL_FRACTION) & ~test
    # the official lists are patient-disjoint; a patient in both (a broken list) is kept out of train
    test_patients = {p for p, t in zip(patients, test) if t}
    keep = {"test": test, "val": held & ~np.isin(patients, list(test_patients)),
            "train": ~test & ~held & ~np.isin(patients, list(test_patients))}[split]
    index = _nih_index(root)
    idx = np.flatnonzero(keep)
    finding = np.array([0 if df["Finding Labels"].iat[i].strip() == "No Finding" else 1 for i in idx], dtype=np.int64)
    return [_nih_lookup(index, root, names[i], csv) for i in idx], finding, [patients[i] for i in idx]


def chexpert_nih_weak(data_root, split: str) -> StreamingSet:
    """Finding (1) / No Finding (0) over CheXpert (frontal) and NIH, as the authors' CombinedData labels them."""
    c_paths, c_labels, _ = chexpert_records(data_root, split, frontal_only=True)
    n_paths, n_finding, _ = nih_records(data_root, split)
    c_finding = (c_labels[:, CHEXPERT_LABELS.index("No Finding")] != 1.0).astype(np.int64)
    targets = torch.from_numpy(np.concatenate([c_finding, n_finding]))
    return StreamingSet(c_paths + n_paths, ImageDecoder(CHEST_MODE), targets, "binary", 1,
                        class_names=["No Finding", "Finding"], name="chexpert-nih-weak",
                        meta={"sources": {"chexpert": len(c_paths), "nih-chestxray8": len(n_paths)}})


@dataclass(frozen=True)
class BoxDecoder:
    """An NIH image with its boxes rasterised into one mask plane per class (box coordinates are in
    the pixels of the stored 1024 x 1024 image)."""

    def __call__(self, ref) -> tuple[np.ndarray, np.ndarray]:
        path, boxes = ref
        image = read_image(path, CHEST_MODE)
        h, w = image.shape[:2]
        masks = np.zeros((len(NIH_BOX_CLASSES), h, w), dtype=bool)
        for k, x, y, bw, bh in boxes:
            x0, y0 = max(0, int(np.floor(x))), max(0, int(np.floor(y)))
            x1, y1 = min(w, int(np.ceil(x + bw))), min(h, int(np.ceil(y + bh)))
            masks[k, y0:y1, x0:x1] = True
        return image, masks


BOX_COLUMNS = ("Image Index", "Finding Label", "Bbox [x", "y", "w", "h]")


def nih_bbox(data_root, split: str) -> StreamingSet:
    """The concept set of NIH boxes: every image with a box, masks (8, H, W), targets = which classes are boxed."""
    root = dataset_root(data_root, "nih-chestxray8")
    csv = root / "BBox_List_2017.csv"
    df = read_table(csv, BOX_COLUMNS)
    index = _nih_index(root)
    per_image: dict[str, list] = {}
    for i, row in enumerate(df[list(BOX_COLUMNS)].itertuples(index=False)):
        name, label, x, y, w, h = row
        if label not in NIH_BOX_CLASSES:
            raise UserError(f"{csv}: row {i + 2}, Finding Label {label!r}; expected one of {list(NIH_BOX_CLASSES)}")
        per_image.setdefault(name, []).append((NIH_BOX_CLASSES.index(label), float(x), float(y), float(w), float(h)))
    names = sorted(per_image)
    refs = [(_nih_lookup(index, root, n, csv), tuple(per_image[n])) for n in names]
    targets = torch.zeros(len(names), len(NIH_BOX_CLASSES))
    for i, n in enumerate(names):
        for k, *_ in per_image[n]:
            targets[i, k] = 1.0
    return StreamingSet(refs, BoxDecoder(), targets, "multilabel", 1, class_names=list(NIH_BOX_CLASSES),
                        mask_names=list(NIH_BOX_CLASSES), name="nih-bbox", meta={"boxes": len(df)})


# ---------------------------------------------------------------- COVID-19 segmentations

@dataclass(frozen=True)
class PatchMaskDecoder:
    """An image with mask patches (``(class, mask file, left, top)``) pasted into one plane per class."""

    def __call__(self, ref) -> tuple[np.ndarray, np.ndarray]:
        path, patches = ref
        image = read_image(path, CHEST_MODE)
        h, w = image.shape[:2]
        masks = np.zeros((len(COVID_STRUCTURES), h, w), dtype=bool)
        for k, mask_path, left, top in patches:
            patch = read_mask(mask_path)
            ph, pw = min(patch.shape[0], h - top), min(patch.shape[1], w - left)
            if ph > 0 and pw > 0:
                masks[k, top:top + ph, left:left + pw] |= patch[:ph, :pw]
        return image, masks


def covid19_masks(data_root, split: str) -> StreamingSet:
    root = dataset_root(data_root, "covid19-cxr-seg")
    csv = find_one(root, "**/structure.csv", "structure.csv of the COVID-19 segmentation set")
    base = csv.parent
    df = read_table(csv, ("Filename", "Template Name", "Mask", "Left", "Top"))
    per_image: dict[str, list] = {}
    for i, row in enumerate(df[["Filename", "Template Name", "Mask", "Left", "Top"]].itertuples(index=False)):
        name, template, mask, left, top = row
        per_image.setdefault(name, [])
        if not isinstance(mask, str):  # a structure listed without a drawn mask
            continue
        if template not in COVID_STRUCTURES:
            raise UserError(f"{csv}: row {i + 2}, Template Name {template!r}; expected one of {list(COVID_STRUCTURES)}")
        per_image[name].append((COVID_STRUCTURES.index(template), base / mask, int(left), int(top)))
    names = sorted(per_image)
    refs = [(base / "images" / n, tuple(per_image[n])) for n in names]
    targets = torch.zeros(len(names), len(COVID_STRUCTURES))
    for i, n in enumerate(names):
        for k, *_ in per_image[n]:
            targets[i, k] = 1.0
    return StreamingSet(refs, PatchMaskDecoder(), targets, "multilabel", 1, class_names=list(COVID_STRUCTURES),
                        mask_names=list(COVID_STRUCTURES), name="covid19-masks")
