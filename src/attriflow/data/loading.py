"""``load_dataset(name, root, split)``: an :class:`ImageSet` for every embedded dataset view.

A *view* is what a run trains or evaluates on; several views read one ``data/<folder>/``:

================== ============== ============ ======================================================
view               folder         task         targets
================== ============== ============ ======================================================
shapes32, shapes64 shapes         multiclass   long (N,), 10 shape classes; masks: the object
cxr-multilabel     cxr-phantoms   multilabel   float (N, 14) CheXpert labels; masks: 15 concepts
cxr-severity       cxr-phantoms   regression   float (N,) BrixIA total 0..18 (sum of the zones)
cxr-zones          cxr-phantoms   zones        long (N, 6) BrixIA zone scores 0..3
cxr-weak           cxr-phantoms   binary       long (N,) 1 = Finding, 0 = No Finding
cxr-probe          cxr-phantoms   multilabel   as cxr-multilabel; default split ``probe`` (dissection)
textures/<cat>     textures       binary       long (N,) 0 normal, 1 defective; masks: the defect
digits             digits         multiclass   long (N,) the digit
================== ============== ============ ======================================================

Images are float32 (N, C, H, W) in [0, 1]; masks bool (N, M, H, W). Splits: shapes and cxr
views train / val / test (cxr also probe), textures and digits train / test. ``split=None``
means the view's default (``probe`` for cxr-probe, ``train`` otherwise). ``limit`` keeps the
first n items (splits are shuffled when generated); ``image_size`` resizes images (bilinear with
antialiasing) and masks (adaptive max-pooling: a
pixel is masked when any source pixel it covers is, so no defect vanishes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from attriflow.data.embedded import VERSIONS, cxr, digits, shapes, textures
from attriflow.data.imageset import ImageSet
from attriflow.data.real import REAL_VIEWS, is_real, load_real, real_view
from attriflow.data.streaming import StreamingSet
from attriflow.errors import UserError
from attriflow.utils.io import read_json

PathLike = str | Path


@dataclass(frozen=True)
class View:
    folder: str
    splits: tuple[str, ...]
    default_split: str
    build: Callable[[str, dict[str, np.ndarray]], dict]


def _cxr_common(arrays: dict[str, np.ndarray]) -> dict:
    return {"masks": cxr.unpack_masks(arrays["masks"]), "mask_names": list(cxr.CONCEPTS)}


def _cxr_multilabel(name, a):
    return {"targets": torch.from_numpy(a["labels"].astype(np.float32)), "task": "multilabel",
            "class_names": list(cxr.LABELS), **_cxr_common(a)}


def _cxr_severity(name, a):
    return {"targets": torch.from_numpy(a["zones"].sum(axis=1).astype(np.float32)), "task": "regression",
            "class_names": ["severity"], **_cxr_common(a)}


def _cxr_zones(name, a):
    return {"targets": torch.from_numpy(a["zones"].astype(np.int64)), "task": "zones",
            "class_names": list(cxr.ZONES), **_cxr_common(a)}


def _cxr_weak(name, a):
    finding = 1 - a["labels"][:, cxr.LABELS.index("No Finding")].astype(np.int64)
    return {"targets": torch.from_numpy(finding), "task": "binary", "class_names": ["No Finding", "Finding"],
            **_cxr_common(a)}


def _shapes(name, a):
    return {"targets": torch.from_numpy(a["labels"].astype(np.int64)), "task": "multiclass",
            "class_names": list(shapes.CLASSES), "masks": a["masks"][:, None], "mask_names": ["object"]}


def _textures(name, a):
    n, _, h, w = a["images"].shape
    labels = a.get("labels", np.zeros(n, dtype=np.uint8))
    masks = a.get("masks", np.zeros((n, h, w), dtype=bool))
    return {"targets": torch.from_numpy(labels.astype(np.int64)), "task": "binary",
            "class_names": ["normal", "anomalous"], "masks": masks[:, None], "mask_names": ["defect"]}


def _digits(name, a):
    return {"targets": torch.from_numpy(a["labels"].astype(np.int64)), "task": "multiclass",
            "class_names": list(digits.CLASSES), "masks": None, "mask_names": []}


_CXR_SPLITS = ("train", "val", "test", "probe")
VIEWS: dict[str, View] = {
    "shapes32": View("shapes", shapes.SPLITS, "train", _shapes),
    "shapes64": View("shapes", shapes.SPLITS, "train", _shapes),
    "cxr-multilabel": View(cxr.NAME, _CXR_SPLITS, "train", _cxr_multilabel),
    "cxr-severity": View(cxr.NAME, _CXR_SPLITS, "train", _cxr_severity),
    "cxr-zones": View(cxr.NAME, _CXR_SPLITS, "train", _cxr_zones),
    "cxr-weak": View(cxr.NAME, _CXR_SPLITS, "train", _cxr_weak),
    "cxr-probe": View(cxr.NAME, _CXR_SPLITS, "probe", _cxr_multilabel),
    "digits": View(digits.NAME, ("train", "test"), "train", _digits),
    **{f"textures/{c}": View(textures.NAME, ("train", "test"), "train", _textures) for c in textures.CATEGORIES},
}
DATASETS: tuple[str, ...] = tuple(VIEWS)


def _valid_names() -> str:
    plain = [n for n in DATASETS if not n.startswith("textures/")]
    return ", ".join(plain) + ", textures/<category> with category one of " + ", ".join(textures.CATEGORIES)


def _subdir(name: str) -> str:
    """The folder, under data/<folder>/, that holds a view's split folders."""
    if name.startswith("shapes"):
        return name[len("shapes"):]
    if name.startswith("textures/"):
        return name.split("/", 1)[1]
    return ""


def view_of(name: str) -> View:
    """The :class:`View` of a dataset name; an unknown name raises a UserError listing the valid ones."""
    if name in VIEWS:
        return VIEWS[name]
    from attriflow.data.views import VIEWS as ALL_VIEWS

    base = name.split("/")[0]
    if base == "textures":
        raise UserError(f"dataset {name!r}: textures needs a category, 'textures/<category>' with category one of "
                        f"{', '.join(textures.CATEGORIES)}")
    if base in ALL_VIEWS:
        raise UserError(f"dataset {name!r} is a real (paper-scale) dataset view, not an embedded one; embedded "
                        f"views: {_valid_names()}")
    raise UserError(f"unknown dataset {name!r}; valid: {_valid_names()}, or a real view: {', '.join(REAL_VIEWS)}")


def view_splits(name: str) -> tuple[str, ...]:
    """The splits of an embedded or real view."""
    return real_view(name).splits if is_real(name) else view_of(name).splits


def dataset_folder(name: str, root: PathLike = "data") -> Path:
    """``root/<folder>`` of a view, checked complete (``meta.json`` present) and current."""
    view = view_of(name)
    folder = Path(root) / view.folder
    how = f"generate it with `attriflow data generate {view.folder}` (--root {root})"
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        state = "is incomplete (no meta.json)" if folder.exists() else "does not exist"
        raise UserError(f"dataset {name!r} reads {folder}, which {state}; {how}")
    meta = read_json(meta_path)
    if meta.get("version") != VERSIONS[view.folder]:
        raise UserError(f"{folder} was written by generator version {meta.get('version')}, this attriflow writes "
                        f"version {VERSIONS[view.folder]}; regenerate: {how}")
    return folder


def load_arrays(name: str, root: PathLike = "data", split: str | None = None) -> dict[str, np.ndarray]:
    """The raw arrays of one view's split, as stored (e.g. textures' ``defects``, cxr's ``boxes``)."""
    view = view_of(name)
    split = view.default_split if split is None else split
    if split not in view.splits:
        raise UserError(f"dataset {name!r} has no split {split!r}; valid splits: {', '.join(view.splits)}")
    folder = dataset_folder(name, root) / _subdir(name) / split
    files = sorted(folder.glob("*.npy"))
    if not files:
        raise UserError(f"dataset {name!r}: {folder} holds no .npy files; regenerate it with "
                        f"`attriflow data generate {view.folder}`")
    return {p.stem: np.load(p, mmap_mode=None, allow_pickle=False) for p in files}


def _resize(images: torch.Tensor, masks: torch.Tensor | None, size: tuple[int, int]):
    if tuple(images.shape[-2:]) == size:
        return images, masks
    images = F.interpolate(images, size=size, mode="bilinear", antialias=True, align_corners=False).clamp_(0.0, 1.0)
    if masks is not None:
        # any coverage counts: a pixel is in the mask when any source pixel it covers is, so thin
        # defects (scratches, cracks) survive downsampling and no non-empty mask becomes empty
        masks = F.adaptive_max_pool2d(masks.float(), size) > 0
    return images, masks


def load_dataset(name: str, root: PathLike = "data", split: str | None = None, limit: int | None = None,
                 image_size: int | tuple[int, int] | None = None) -> ImageSet | StreamingSet:
    """Load a dataset view: an embedded one as an :class:`ImageSet` (see the module docstring for
    views), a real one as a :class:`~attriflow.data.streaming.StreamingSet` that decodes item by item
    (see :mod:`attriflow.data.real`).

    ``split=None`` is the view's default split; ``limit`` keeps the first ``limit`` items of an
    embedded view (a seeded random subset of a real one, whose files are sorted by class, stratified
    by class for a multi-class view so every class stays when ``limit`` allows); all of
    them when the split is smaller; ``image_size`` (int or (h, w)) resizes images and masks.
    """
    view = None if is_real(name) else view_of(name)
    if limit is not None and (isinstance(limit, bool) or int(limit) != limit or limit < 0):
        raise UserError(f"limit must be a whole number >= 0 or None, got {limit!r}")
    if image_size is not None:
        size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        if len(size) != 2 or any(int(s) != s or s < 1 for s in size):
            raise UserError(f"image_size must be a positive int or (height, width), got {image_size!r}")
        size = (int(size[0]), int(size[1]))
    if view is None:
        return load_real(name, root, split, limit, size if image_size is not None else None)
    split = view.default_split if split is None else split
    arrays = load_arrays(name, root, split)
    available = len(arrays["images"])
    if limit is not None:
        arrays = {k: v[: int(limit)] for k, v in arrays.items()}
    parts = view.build(name, arrays)
    images = torch.from_numpy(np.ascontiguousarray(arrays["images"])).float().div_(255.0)
    masks = parts.pop("masks")
    masks = None if masks is None else torch.from_numpy(np.ascontiguousarray(masks))
    if image_size is not None:
        images, masks = _resize(images, masks, size)
    meta = read_json(Path(root) / view.folder / "meta.json")
    return ImageSet(
        images=images, masks=masks, name=name,
        meta={"dataset": name, "folder": view.folder, "split": split, "seed": meta.get("seed"),
              "version": meta.get("version"), "limit": limit, "available": available,
              "image_size": tuple(images.shape[-2:])},
        **parts,
    )
