"""Natural-image and anomaly sets: torchvision's CIFAR-10 / MNIST / Fashion-MNIST files, MVTec AD,
ImageNet validation class folders, Birdsnap, and the Kaggle medical sets of MKD.

- CIFAR-10: the pickled ``cifar-10-batches-py`` batches; MNIST / Fashion-MNIST: the gzip idx
  files under ``<Name>/raw``. Official train / test; the arrays stay uint8 (a few hundred MB at
  most) and each item is converted when read.
- MVTec AD ``<category>/train/good``, ``test/<defect>``, ``ground_truth/<defect>/<stem>_mask.png``:
  binary (good 0, defect 1) with the defect mask; train holds only good images.
- ImageNet validation ``<wnid>/*.JPEG``: class index = position of the wnid in the sorted list of
  the 1000 ILSVRC-2012 synsets (timm's ``imagenet_synsets.txt``), the order torchvision's and timm's
  weights use; ``val`` and ``test`` are both the 50,000 validation images.
- Birdsnap v1.1: ``species.txt`` (id, common, scientific, dir), ``images/<dir>/<file>``, the
  official ``test_images.txt``; train = every downloaded image not in the test list.
- MKD medical sets, one-class (normal = 0): Retinal-OCT ``OCT2017/{train,test}/{NORMAL,CNV,DME,DRUSEN}``
  (official split; train = train/NORMAL); HeadCT ``labels.csv`` (id, hemorrhage) and
  ``head_ct/<id:03d>.png``; BrainMRI ``no/`` and ``yes/``. HeadCT and BrainMRI have no split: train
  = a seeded 80% of the normal images, test = the other normal images and every abnormal one.
"""

from __future__ import annotations

import gzip
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from attriflow.data.real._common import (SPLIT_SEED, ImageDecoder, dataset_root, find_one, image_files, read_image,
                                         read_mask, read_table)
from attriflow.data.streaming import StreamingSet
from attriflow.errors import UserError

MVTEC_CATEGORIES = ("bottle", "cable", "capsule", "carpet", "grid", "hazelnut", "leather", "metal_nut", "pill", "screw",
                    "tile", "toothbrush", "transistor", "wood", "zipper")
OCT_CLASSES = ("NORMAL", "CNV", "DME", "DRUSEN")
ONE_CLASS = ["normal", "anomalous"]
NORMAL_TRAIN_FRACTION = 0.8


@dataclass(frozen=True)
class ArrayDecoder:
    """Items are rows of one uint8 array (N, H, W) or (N, H, W, C) held in memory."""

    array: np.ndarray

    def __call__(self, i) -> tuple[np.ndarray, None]:
        return self.array[i], None


# ---------------------------------------------------------------- torchvision layouts

def _unpickle(path: Path) -> dict:
    if not path.is_file():
        raise UserError(f"{path} is missing: CIFAR-10 ships data_batch_1..5, test_batch and batches.meta there")
    try:
        with open(path, "rb") as f:  # CIFAR-10 is distributed pickled; fetched files are checked by md5 first
            return pickle.load(f, encoding="bytes")
    except (pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise UserError(f"{path}: not a CIFAR-10 python batch ({exc})") from exc


def cifar10(data_root, split: str) -> StreamingSet:
    root = dataset_root(data_root, "cifar10")
    folder = find_one(root, "**/cifar-10-batches-py", "cifar-10-batches-py folder")
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    arrays, labels = [], []
    for n in names:
        batch = _unpickle(folder / n)
        if b"data" not in batch or b"labels" not in batch:
            raise UserError(f"{folder / n}: no 'data' / 'labels' entries; expected a CIFAR-10 python batch")
        arrays.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels += list(batch[b"labels"])
    meta = _unpickle(folder / "batches.meta")
    classes = [c.decode() for c in meta[b"label_names"]]
    y = np.asarray(labels, dtype=np.int64)
    if y.min() < 0 or y.max() >= len(classes):
        raise UserError(f"{folder}: labels outside 0..{len(classes) - 1}")
    data = np.ascontiguousarray(np.concatenate(arrays))
    return StreamingSet(list(range(len(data))), ArrayDecoder(data), torch.from_numpy(y), "multiclass", 3,
                        class_names=classes, name="cifar10")


def _read_idx(path: Path, magic: int) -> np.ndarray:
    if not path.is_file():
        raise UserError(f"{path} is missing: the torchvision layout keeps the gzip idx files there")
    try:
        raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: not a gzip file ({exc})") from exc
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise UserError(f"{path}: idx magic number {found}, expected {magic} ({'images' if magic == 2051 else 'labels'})")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise UserError(f"{path}: header says {shape} but holds {data.size} bytes")
    return data.reshape(shape)


MNIST_CLASSES = {"mnist": [str(d) for d in range(10)],
                 "fashion-mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                                   "Bag", "Ankle boot"]}


def mnist_like(data_root, split: str, name: str) -> StreamingSet:
    root = dataset_root(data_root, name)
    raw = root / ("MNIST" if name == "mnist" else "FashionMNIST") / "raw"
    prefix = "train" if split == "train" else "t10k"
    images = _read_idx(raw / f"{prefix}-images-idx3-ubyte.gz", 2051)
    labels = _read_idx(raw / f"{prefix}-labels-idx1-ubyte.gz", 2049).astype(np.int64)
    if len(images) != len(labels):
        raise UserError(f"{raw}: {len(images)} {prefix} images but {len(labels)} labels")
    if labels.max(initial=0) > 9:
        raise UserError(f"{raw / f'{prefix}-labels-idx1-ubyte.gz'}: label {labels.max()} outside 0..9")
    return StreamingSet(list(range(len(images))), ArrayDecoder(np.ascontiguousarray(images)), torch.from_numpy(labels),
                        "multiclass", 1, class_names=MNIST_CLASSES[name], name=name)


# ---------------------------------------------------------------- MVTec AD

@dataclass(frozen=True)
class MaskedImageDecoder:
    """``(image path, mask path or None)``: the RGB image and its one-plane mask (empty when None)."""

    draft: int | None = None

    def __call__(self, ref) -> tuple[np.ndarray, np.ndarray]:
        path, mask_path = ref
        image = read_image(path, "RGB", self.draft)
        mask = read_mask(mask_path, image.shape[:2]) if mask_path is not None else np.zeros(image.shape[:2], bool)
        if mask.shape != image.shape[:2]:
            raise UserError(f"{mask_path}: mask is {mask.shape}, its image {path} is {image.shape[:2]}")
        return image, mask[None]


def mvtec(data_root, split: str, category: str) -> StreamingSet:
    if category not in MVTEC_CATEGORIES:
        raise UserError(f"mvtec-ad category {category!r}; expected one of {', '.join(MVTEC_CATEGORIES)}")
    root = dataset_root(data_root, "mvtec-ad")
    base = find_one(root, f"**/{category}/train", f"{category}/train folder").parent
    refs, labels = [], []
    if split == "train":
        refs = [(p, None) for p in image_files(base / "train" / "good")]
        labels = [0] * len(refs)
    else:
        test = base / "test"
        if not test.is_dir():
            raise UserError(f"{test} is missing: MVTec AD keeps test/<defect>/*.png there")
        for defect in sorted(d.name for d in test.iterdir() if d.is_dir()):
            for p in image_files(test / defect):
                if defect == "good":
                    refs.append((p, None)), labels.append(0)
                    continue
                mask = base / "ground_truth" / defect / f"{p.stem}_mask.png"
                if not mask.is_file():
                    raise UserError(f"{mask} is missing: every defective test image of MVTec AD has a ground-truth mask")
                refs.append((p, mask)), labels.append(1)
    if not refs:
        raise UserError(f"{base}: no {split} images (expected {'train/good' if split == 'train' else 'test/<defect>'}/*.png)")
    return StreamingSet(refs, MaskedImageDecoder(), torch.tensor(labels, dtype=torch.long), "binary", 3,
                        class_names=list(ONE_CLASS), mask_names=["defect"], name=f"mvtec-ad/{category}")


# ---------------------------------------------------------------- ImageNet validation, Birdsnap

def imagenet_synsets() -> list[str]:
    """The 1000 ILSVRC-2012 wnids in the class order of torchvision's and timm's ImageNet weights."""
    from timm.data import ImageNetInfo

    return list(ImageNetInfo().label_names())


def imagenet_val(data_root, split: str) -> StreamingSet:
    from torchvision.models._meta import _IMAGENET_CATEGORIES

    root = dataset_root(data_root, "imagenet-val")
    synsets = imagenet_synsets()
    position = {w: i for i, w in enumerate(synsets)}
    refs, labels = [], []
    for folder in sorted(d for d in root.iterdir() if d.is_dir()):
        if folder.name not in position:
            raise UserError(f"{folder}: {folder.name!r} is not an ILSVRC-2012 synset; expected class folders such as "
                            f"n01440764 (the 1000 validation classes)")
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpeg", ".jpg", ".png"))
        refs += files
        labels += [position[folder.name]] * len(files)
    if not refs:
        raise UserError(f"{root}: no class folders with images; expected <wnid>/*.JPEG")
    return StreamingSet(refs, ImageDecoder("RGB", draft=256), torch.tensor(labels, dtype=torch.long), "multiclass", 3,
                        class_names=list(_IMAGENET_CATEGORIES), name="imagenet-val",
                        meta={"classes_present": len(set(labels)), "class_order": "sorted ILSVRC-2012 wnids"})


def birdsnap(data_root, split: str) -> StreamingSet:
    root = dataset_root(data_root, "birdsnap")
    species = read_table(root / "species.txt", ("id", "common", "dir"), sep="\t")
    by_dir = {d: int(i) - 1 for i, d in zip(species["id"], species["dir"])}
    test_file = root / "test_images.txt"
    test = set(read_table(test_file, ("path",), sep="\t")["path"])
    refs, labels = [], []
    images = root / "images"
    for folder in sorted(d for d in images.iterdir() if d.is_dir()):
        if folder.name not in by_dir:
            raise UserError(f"{folder}: species folder {folder.name!r} is not in {root / 'species.txt'} (column dir)")
        for p in image_files(folder):
            if (f"{folder.name}/{p.name}" in test) == (split == "test"):
                refs.append(p), labels.append(by_dir[folder.name])
    return StreamingSet(refs, ImageDecoder("RGB", draft=256), torch.tensor(labels, dtype=torch.long), "multiclass", 3,
                        class_names=list(species["common"]), name="birdsnap",
                        meta={"split_rule": "official test_images.txt; train = the other downloaded images"})


# ---------------------------------------------------------------- MKD medical sets (one-class)

def _one_class(name: str, split: str, normal: list[Path], abnormal: list[Path], official: tuple | None = None) -> StreamingSet:
    """Train: normal images only; test: held-out normal (0) and abnormal (1)."""
    if official is not None:
        train_normal, test_normal, test_abnormal = official
    else:
        order = np.random.default_rng(SPLIT_SEED).permutation(len(normal))
        n_train = int(round(len(normal) * NORMAL_TRAIN_FRACTION))
        chosen = set(order[:n_train].tolist())
        train_normal = [p for i, p in enumerate(normal) if i in chosen]
        test_normal = [p for i, p in enumerate(normal) if i not in chosen]
        test_abnormal = abnormal
    refs = train_normal if split == "train" else test_normal + test_abnormal
    labels = [0] * len(refs) if split == "train" else [0] * len(test_normal) + [1] * len(test_abnormal)
    return StreamingSet(list(refs), ImageDecoder("RGB", draft=256), torch.tensor(labels, dtype=torch.long), "binary", 3,
                        class_names=list(ONE_CLASS), name=name,
                        meta={"split_rule": "official" if official else f"seeded {NORMAL_TRAIN_FRACTION:.0%} of normal images, seed {SPLIT_SEED}"})


def retinal_oct(data_root, split: str) -> StreamingSet:
    root = dataset_root(data_root, "retinal-oct")
    base = find_one(root, "**/train/NORMAL", "train/NORMAL folder of OCT2017").parent.parent
    parts = {}
    for part in ("train", "test"):
        for cls in OCT_CLASSES:
            if not (base / part / cls).is_dir():
                raise UserError(f"{base / part / cls} is missing: Retinal-OCT ships {part}/{{{','.join(OCT_CLASSES)}}}")
            parts[part, cls] = image_files(base / part / cls)
    abnormal = [p for cls in OCT_CLASSES[1:] for p in parts["test", cls]]
    return _one_class("retinal-oct", split, [], [], official=(parts["train", "NORMAL"], parts["test", "NORMAL"], abnormal))


def headct(data_root, split: str) -> StreamingSet:
    root = dataset_root(data_root, "headct")
    csv = find_one(root, "**/labels.csv", "labels.csv of HeadCT")
    df = read_table(csv, (), skipinitialspace=True)
    df.columns = [c.strip() for c in df.columns]
    if not {"id", "hemorrhage"} <= set(df.columns):
        raise UserError(f"{csv}: missing column(s) id / hemorrhage; found {list(df.columns)}")
    folder = find_one(root, "**/head_ct/*.png", "head_ct/*.png images").parent
    normal, abnormal = [], []
    for i, (ident, label) in enumerate(zip(df["id"], df["hemorrhage"])):
        if label not in (0, 1):
            raise UserError(f"{csv}: row {i + 2}, hemorrhage is {label!r}; expected 0 or 1")
        (abnormal if label == 1 else normal).append(folder / f"{int(ident):03d}.png")
    return _one_class("headct", split, normal, abnormal)


def brainmri(data_root, split: str) -> StreamingSet:
    root = dataset_root(data_root, "brainmri")
    no = find_one(root, "**/no", "no/ folder of BrainMRI")
    yes = no.parent / "yes"
    if not yes.is_dir():
        raise UserError(f"{yes} is missing: BrainMRI ships no/ and yes/ side by side")
    return _one_class("brainmri", split, image_files(no), image_files(yes))
