"""Loaders of the real (paper-scale) datasets: one view name per task, read as a :class:`StreamingSet`.

================== ======================== ============ =================== =========================================
view               data/ folder(s)          task         splits              what
================== ======================== ============ =================== =========================================
chexpert-multilabel chexpert                multilabel   train, val, test    14 labels, U-Zeros
brixia-severity    brixia                   regression   train, val, test    BrixiaScoreGlobal 0..18
brixia-zones       brixia                   zones        train, val, test    BrixiaScore, 6 zones 0..3
chexpert-nih-weak  chexpert, nih-chestxray8 binary       train, val, test    Finding / No Finding
nih-bbox           nih-chestxray8           multilabel   probe               concept set: 8 box classes, masks
covid19-masks      covid19-cxr-seg          multilabel   probe               concept set: 14 structures, masks
cifar10            cifar10                  multiclass   train, test
mnist              mnist                    multiclass   train, test
fashion-mnist      fashion-mnist            multiclass   train, test
mvtec-ad/<cat>     mvtec-ad                 binary       train, test         defect masks
imagenet-val       imagenet-val             multiclass   val, test (same)    1000 classes
birdsnap           birdsnap                 multiclass   train, test         500 species
retinal-oct        retinal-oct              binary       train, test         one-class (NORMAL)
headct             headct                   binary       train, test         one-class
brainmri           brainmri                 binary       train, test         one-class
================== ======================== ============ =================== =========================================

Registration-only sets are read from ``data/<name>/root`` (linked by ``attriflow data locate``),
the others from ``data/<name>`` (written by ``attriflow data fetch``). See each module's docstring
for the exact files and for how splits are made.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

from attriflow.data.real import chest, vision
from attriflow.data.real._common import SPLIT_SEED, limit_index
from attriflow.data.streaming import StreamingSet
from attriflow.errors import UserError


@dataclass(frozen=True)
class RealView:
    folders: tuple[str, ...]
    splits: tuple[str, ...]
    default_split: str
    load: Callable[[object, str], StreamingSet]


_TVT = ("train", "val", "test")
_TT = ("train", "test")
REAL_VIEWS: dict[str, RealView] = {
    "chexpert-multilabel": RealView(("chexpert",), _TVT, "train", chest.chexpert_multilabel),
    "brixia-severity": RealView(("brixia",), _TVT, "train", partial(chest.brixia, target="severity")),
    "brixia-zones": RealView(("brixia",), _TVT, "train", partial(chest.brixia, target="zones")),
    "chexpert-nih-weak": RealView(("chexpert", "nih-chestxray8"), _TVT, "train", chest.chexpert_nih_weak),
    "nih-bbox": RealView(("nih-chestxray8",), ("probe",), "probe", chest.nih_bbox),
    "covid19-masks": RealView(("covid19-cxr-seg",), ("probe",), "probe", chest.covid19_masks),
    "cifar10": RealView(("cifar10",), _TT, "train", vision.cifar10),
    "mnist": RealView(("mnist",), _TT, "train", partial(vision.mnist_like, name="mnist")),
    "fashion-mnist": RealView(("fashion-mnist",), _TT, "train", partial(vision.mnist_like, name="fashion-mnist")),
    **{f"mvtec-ad/{c}": RealView(("mvtec-ad",), _TT, "train", partial(vision.mvtec, category=c))
       for c in vision.MVTEC_CATEGORIES},
    "imagenet-val": RealView(("imagenet-val",), ("val", "test"), "val", vision.imagenet_val),
    "birdsnap": RealView(("birdsnap",), _TT, "train", vision.birdsnap),
    "retinal-oct": RealView(("retinal-oct",), _TT, "train", vision.retinal_oct),
    "headct": RealView(("headct",), _TT, "train", vision.headct),
    "brainmri": RealView(("brainmri",), _TT, "train", vision.brainmri),
}


def is_real(name: str) -> bool:
    return name in REAL_VIEWS or name.split("/")[0] == "mvtec-ad"


def real_view(name: str) -> RealView:
    if name.split("/")[0] == "mvtec-ad" and name not in REAL_VIEWS:
        raise UserError(f"dataset {name!r}: mvtec-ad needs a category, 'mvtec-ad/<category>'; mvtec-ad category "
                        f"{name.partition('/')[2]!r} is not one of {', '.join(vision.MVTEC_CATEGORIES)}")
    try:
        return REAL_VIEWS[name]
    except KeyError:
        raise UserError(f"unknown real dataset view {name!r}; valid: {', '.join(REAL_VIEWS)}") from None


def load_real(name: str, root="data", split: str | None = None, limit: int | None = None,
              image_size: tuple[int, int] | None = None) -> StreamingSet:
    """One split of a real view as a :class:`StreamingSet` (decoded item by item when read)."""
    view = real_view(name)
    split = view.default_split if split is None else split
    if split not in view.splits:
        raise UserError(f"dataset {name!r} has no split {split!r}; valid splits: {', '.join(view.splits)}")
    data = view.load(root, split)
    available = len(data)
    if limit is not None:
        labels = data.targets.numpy() if data.task == "multiclass" else None
        data = data.subset(limit_index(available, int(limit), labels=labels))
    data.name = name
    data.image_size = image_size
    data.meta = {**data.meta, "dataset": name, "folders": list(view.folders), "split": split, "limit": limit,
                 "available": available, "image_size": image_size, "split_seed": SPLIT_SEED}
    return data
