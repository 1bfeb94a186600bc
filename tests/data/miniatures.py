"""Miniature copies of every real dataset, in the on-disk formats their publishers ship.

A few images per class / defect / patient, the real CSV headers and separators, DICOM files with
real headers (pydicom), gzip idx files, pickled CIFAR batches. Every builder returns the ground
truth the tests check the loaders against. ``build_all(data_root)`` places them where ``attriflow
data fetch`` / ``attriflow data locate`` would (``data/<name>`` and ``data/<name>/root``).
"""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
from PIL import Image

from attriflow.data.real.chest import CHEXPERT_LABELS
from attriflow.data.real.vision import MVTEC_CATEGORIES
from attriflow.utils.io import write_json

RNG_SEED = 7
SIZE = 40  # image side of the file-based miniatures (loaders resize them)


def _rng(tag: str) -> np.random.Generator:
    return np.random.default_rng([RNG_SEED, sum(map(ord, tag))])


def _save(path: Path, array: np.ndarray, fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format=fmt)
    return path


def _picture(tag: str, value: int, rgb: bool = False, size: int = SIZE) -> np.ndarray:
    """A noisy image whose mean grey level encodes ``value`` (so tests can tell items apart)."""
    base = np.full((size, size), 20 + 9 * value, dtype=np.int16) + _rng(tag).integers(-8, 9, (size, size))
    grey = np.clip(base, 0, 255).astype(np.uint8)
    return np.stack([grey, grey, 255 - grey], axis=-1) if rgb else grey


# ---------------------------------------------------------------- CheXpert

CHEXPERT_HEADER = ["Path", "Sex", "Age", "Frontal/Lateral", "AP/PA"] + list(CHEXPERT_LABELS)


def chexpert(root: Path, patients: int = 10) -> dict:
    """train.csv / valid.csv as in CheXpert-v1.0-small; paths start with the archive folder name."""
    rows_train, rows_valid, truth = [], [], {}
    values = ["1.0", "0.0", "-1.0", ""]
    for split, n, rows in (("train", patients, rows_train), ("valid", 3, rows_valid)):
        for p in range(1, n + 1):
            pid = f"patient{p + (0 if split == 'train' else 64540):05d}"
            for view in ("frontal", "lateral"):
                rel = f"{split}/{pid}/study1/view{1 if view == 'frontal' else 2}_{view}.jpg"
                _save(root / rel, _picture(rel, p))
                labels = [values[(p + k + (view == 'lateral')) % 4] for k in range(len(CHEXPERT_LABELS))]
                rows.append([f"CheXpert-v1.0-small/{rel}", "Female", "68", view.capitalize(), "AP" if view == "frontal" else ""] + labels)
                truth[rel] = [1.0 if v == "1.0" else 0.0 for v in labels]
    for name, rows in (("train.csv", rows_train), ("valid.csv", rows_valid)):
        (root / name).write_text("\n".join(",".join(r) for r in [CHEXPERT_HEADER] + rows) + "\n")
    return truth


# ---------------------------------------------------------------- BrixIA (DICOM)

BRIXIA_HEADER = ["Filename", "StudyDate", "StudyId", "Subject", "Sex", "AgeAtStudyDateFiveYear", "Manufacturer",
                 "PhotometricInterpretation", "ConsensusTestset", "Modality", "BrixiaScore", "BrixiaScoreGlobal"]


def write_dicom(path: Path, pixels: np.ndarray, photometric: str = "MONOCHROME2", bits: int = 12) -> Path:
    """A CR image DICOM file with the headers a radiograph has (12-bit pixels in 16-bit words)."""
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1"  # Computed Radiography Image Storage
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[str(path.name)])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PatientID = "CR", path.stem
    ds.PhotometricInterpretation = photometric
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 1, 16, bits, bits - 1, 0
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return path


def brixia(root: Path, subjects: int = 8, test: int = 3) -> dict:
    """metadata_global_v2.csv (';'-separated) and dicom_clean/*.dcm; the last ``test`` are the consensus test set."""
    rows, truth = [], {}
    for i in range(subjects + test):
        zones = "".join(str(d) for d in _rng(f"b{i}").integers(0, 4, 6))
        name = f"{1000 + i}.dcm"
        photometric = "MONOCHROME1" if i % 4 == 1 else "MONOCHROME2"
        pixels = np.full((SIZE, SIZE), 400 * (i % 8) + 100, dtype=np.uint16)
        write_dicom(root / "dicom_clean" / name, pixels, photometric)
        rows.append([name, "20200301", str(5000 + i), str(2000 + i // 2), "M", "065Y", "Carestream", photometric,
                     "1" if i >= subjects else "0", "CR", zones, str(sum(map(int, zones)))])
        truth[name] = {"zones": [int(c) for c in zones], "test": i >= subjects, "grey": pixels[0, 0] / 4095 * 255,
                       "inverted": photometric == "MONOCHROME1"}
    (root / "metadata_global_v2.csv").write_text("\n".join(";".join(r) for r in [BRIXIA_HEADER] + rows) + "\n")
    return truth


# ---------------------------------------------------------------- NIH ChestX-ray8

NIH_HEADER = ("Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
              "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],")
BOX_HEADER = "Image Index,Finding Label,Bbox [x,y,w,h],,,"
NIH_FINDINGS = ["No Finding", "Effusion", "Atelectasis|Mass", "No Finding", "Cardiomegaly", "Nodule|Pneumothorax"]


def nih(root: Path, patients: int = 8, per_patient: int = 2) -> dict:
    """Data_Entry_2017.csv, BBox_List_2017.csv, the official split lists, images in part_001 / part_002."""
    entries, names, truth = [], [], {"finding": {}, "boxes": {}, "test": set()}
    for p in range(1, patients + 1):
        for f in range(per_patient):
            name = f"{p:08d}_{f:03d}.png"
            part = "part_001" if p <= patients // 2 else "part_002"
            _save(root / part / "images" / name, _picture(name, p))
            finding = NIH_FINDINGS[(p + f) % len(NIH_FINDINGS)]
            entries.append(f"{name},{finding},{f},{p},58,M,PA,{SIZE},{SIZE},0.143,0.143,")
            names.append(name)
            truth["finding"][name] = 0 if finding == "No Finding" else 1
            if p > patients - 2:
                truth["test"].add(name)
    (root / "Data_Entry_2017.csv").write_text(NIH_HEADER + "\n" + "\n".join(entries) + "\n")
    (root / "test_list.txt").write_text("\n".join(sorted(truth["test"])) + "\n")
    (root / "train_val_list.txt").write_text("\n".join(n for n in names if n not in truth["test"]) + "\n")
    boxes = [(names[0], "Atelectasis", 2.5, 4.0, 10.0, 8.0), (names[0], "Effusion", 20.0, 20.0, 12.0, 15.0),
             (names[3], "Mass", 0.0, 0.0, 5.0, 5.0), (names[5], "Infiltrate", 30.0, 1.0, 10.0, 6.0)]
    (root / "BBox_List_2017.csv").write_text(BOX_HEADER + "\n" + "\n".join(f"{n},{c},{x},{y},{w},{h},,," for n, c, x, y, w, h in boxes) + "\n")
    for n, c, x, y, w, h in boxes:
        truth["boxes"].setdefault(n, []).append((c, x, y, w, h))
    return truth


# ---------------------------------------------------------------- COVID-19 segmentations

def covid19(root: Path) -> dict:
    """repo/<archive folder>/structure.csv with mask patches at offsets, images/, masks/."""
    base = root / "repo" / "covid-19-chest-xray-segmentations-dataset-master"
    rows, truth = [], {}
    patches = {"covid-1.png": [("Left Lung", 2, 3, 12, 10), ("Ground Glass Opacities", 30, 30, 20, 20)],
               "covid-2.jpg": [("Pleural Effusion", 0, 25, 8, 8)], "covid-3.png": []}
    for i, (name, items) in enumerate(patches.items()):
        _save(base / "images" / name, _picture(name, i))
        truth[name] = []
        for j, (template, left, top, w, h) in enumerate(items):
            mask = np.zeros((h, w), dtype=np.uint8)
            mask[1:, 1:] = 255
            rel = f"masks/{Path(name).stem}_{j}.png"
            _save(base / rel, mask)
            rows.append(f"{name},{j},{template},{rel},{left},{top},{w},{h}")
            truth[name].append((template, left, top, w, h))
        rows.append(f"{name},99,Tubings,,,,,")  # a structure without a drawn mask
    (base / "structure.csv").write_text("Filename,Template ID,Template Name,Mask,Left,Top,Width,Height\n" + "\n".join(rows) + "\n")
    return truth


# ---------------------------------------------------------------- torchvision layouts

def cifar10(root: Path, per_batch: int = 10) -> dict:
    """cifar-10-python/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}, pickled as CIFAR ships
    them; by default 5 training images per class."""
    folder = root / "cifar-10-python" / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    truth = {}
    for b, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        labels = [(b + k) % 10 for k in range(per_batch)]
        data = np.stack([np.full(3072, 10 * lab + b, dtype=np.uint8) for lab in labels])
        data[:, :1024] = 200  # red plane bright, so channel order is checkable
        with open(folder / name, "wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"labels": labels, b"data": data,
                         b"filenames": [f"{k}.png".encode() for k in range(per_batch)]}, f, protocol=2)
        truth[name] = labels
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [n.encode() for n in names], b"num_cases_per_batch": per_batch}, f, protocol=2)
    return truth


def _idx(path: Path, array: np.ndarray, magic: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def mnist_like(root: Path, folder: str, n_train: int = 40, n_test: int = 10) -> dict:
    """<Folder>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz; by default 4 training images per digit,
    enough for a one-class problem with a validation part and MKD's kNN baseline (k = 2)."""
    raw = root / folder / "raw"
    truth = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 10
        images = np.stack([np.full((28, 28), 20 * lab, dtype=np.uint8) for lab in labels])
        _idx(raw / f"{prefix}-images-idx3-ubyte.gz", images, 2051)
        _idx(raw / f"{prefix}-labels-idx1-ubyte.gz", labels, 2049)
        truth[prefix] = labels.tolist()
    return truth


# ---------------------------------------------------------------- MVTec AD

def mvtec(root: Path, categories=MVTEC_CATEGORIES) -> dict:
    """mvtec_anomaly_detection/<cat>/{train/good, test/<defect>, ground_truth/<defect>/<stem>_mask.png},
    every category the paper config runs."""
    truth = {}
    for c, cat in enumerate(categories):
        base = root / "mvtec_anomaly_detection" / cat
        grey = cat in ("grid", "screw", "zipper")  # MVTec ships these as grey PNGs
        for i in range(4):
            _save(base / "train" / "good" / f"{i:03d}.png", _picture(f"{cat}{i}", i, rgb=not grey))
        for i in range(2):
            _save(base / "test" / "good" / f"{i:03d}.png", _picture(f"{cat}g{i}", i, rgb=not grey))
        for d, defect in enumerate(("broken", "contamination")):
            for i in range(2):
                _save(base / "test" / defect / f"{i:03d}.png", _picture(f"{cat}{defect}{i}", 5, rgb=not grey))
                mask = np.zeros((SIZE, SIZE), dtype=np.uint8)
                mask[5 + 10 * d: 15 + 10 * d, 5 + 5 * i: 20] = 255
                _save(base / "ground_truth" / defect / f"{i:03d}_mask.png", mask)
        truth[cat] = {"train": 4, "test_good": 2, "test_defect": 4}
    return truth


# ---------------------------------------------------------------- ImageNet validation, Birdsnap

IMAGENET_PICK = {"n01440764": 0, "n01443537": 1, "n15075141": 999}


def imagenet_val(root: Path, per_class: int = 2) -> dict:
    k = 0
    for wnid in IMAGENET_PICK:
        for _ in range(per_class):
            k += 1
            _save(root / wnid / f"ILSVRC2012_val_{k:08d}.JPEG", _picture(wnid, k % 20, rgb=True, size=64), "JPEG")
    return dict(IMAGENET_PICK)


def birdsnap(root: Path) -> dict:
    species = [(1, "Acadian Flycatcher", "Empidonax virescens", "Acadian_Flycatcher"),
               (2, "Acorn Woodpecker", "Melanerpes formicivorus", "Acorn_Woodpecker"),
               (3, "Alder Flycatcher", "Empidonax alnorum", "Alder_Flycatcher")]
    (root / "species.txt").parent.mkdir(parents=True, exist_ok=True)
    (root / "species.txt").write_text("id\tcommon\tscientific\tdir\n" + "\n".join("\t".join(map(str, s)) for s in species) + "\n")
    test = []
    for sid, _, _, d in species:
        for i in range(3):
            rel = f"{d}/{sid * 100 + i}.jpg"
            _save(root / "images" / rel, _picture(rel, sid, rgb=True), "JPEG")
            if i == 0:
                test.append(rel)
    (root / "test_images.txt").write_text("path\n" + "\n".join(test) + "\n")
    return {"test": test, "classes": len(species)}


# ---------------------------------------------------------------- Kaggle medical sets

def retinal_oct(root: Path) -> dict:
    base = root / "archive" / "OCT2017 "  # the Kaggle archive's folder name ends with a space
    counts = {}
    for part, n in (("train", 3), ("test", 2)):
        for c, cls in enumerate(("NORMAL", "CNV", "DME", "DRUSEN")):
            for i in range(n):
                _save(base / part / cls / f"{cls}-{part}{i}.jpeg", _picture(f"{cls}{part}{i}", c), "JPEG")
            counts[part, cls] = n
    return counts


def headct(root: Path, n: int = 10) -> dict:
    folder = root / "archive" / "head_ct" / "head_ct"
    labels = [i % 2 for i in range(n)]
    for i in range(n):
        _save(folder / f"{i:03d}.png", _picture(f"h{i}", labels[i]))
    (root / "archive" / "labels.csv").write_text("id, hemorrhage\n" + "\n".join(f"{i},{lab}" for i, lab in enumerate(labels)) + "\n")
    return {"normal": labels.count(0), "abnormal": labels.count(1)}


def brainmri(root: Path) -> dict:
    for top in (root / "archive", root / "archive" / "brain_tumor_dataset"):  # Kaggle ships both copies
        for i in range(5):
            _save(top / "no" / f"no{i}.jpg", _picture(f"no{i}", 1, rgb=True), "JPEG")
        for i in range(3):
            _save(top / "yes" / f"Y{i}.jpg", _picture(f"y{i}", 9, rgb=True), "JPEG")
    return {"normal": 5, "abnormal": 3}


# ---------------------------------------------------------------- all of them, placed as attriflow places them

REGISTRATION = {"chexpert": chexpert, "brixia": brixia, "imagenet-val": imagenet_val, "birdsnap": birdsnap}
DOWNLOAD = {"nih-chestxray8": nih, "covid19-cxr-seg": covid19, "cifar10": cifar10,
            "mnist": lambda r: mnist_like(r, "MNIST"), "fashion-mnist": lambda r: mnist_like(r, "FashionMNIST"),
            "mvtec-ad": mvtec, "retinal-oct": retinal_oct, "headct": headct, "brainmri": brainmri}


def build_all(data_root: Path, meta: bool = True) -> dict[str, dict]:
    """Every miniature under ``data_root``: public sets in ``<name>/`` with a ``meta.json`` (as after
    ``attriflow data fetch``), registration-only ones in ``<name>/root/`` (where ``attriflow data
    locate`` looks by default; its rule writes their ``meta.json``)."""
    truth = {}
    for name, build in REGISTRATION.items():
        truth[name] = build(Path(data_root) / name / "root")
    for name, build in DOWNLOAD.items():
        truth[name] = build(Path(data_root) / name)
        if meta:
            write_json(Path(data_root) / name / "meta.json", {"name": name, "kind": "download", "miniature": True})
    return truth
