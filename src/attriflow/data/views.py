"""Dataset views: the names runs use (``dataset:`` in a config) and the data/ folders they read."""

from __future__ import annotations

from attriflow.errors import UserError

# view name -> data/ folders it needs. Embedded views first, then real ones (paper scale).
VIEWS: dict[str, tuple[str, ...]] = {
    "shapes32": ("shapes",),
    "shapes64": ("shapes",),
    "cxr-multilabel": ("cxr-phantoms",),
    "cxr-severity": ("cxr-phantoms",),
    "cxr-zones": ("cxr-phantoms",),
    "cxr-weak": ("cxr-phantoms",),
    "cxr-probe": ("cxr-phantoms",),
    "digits": ("digits",),
    "textures": ("textures",),
    "chexpert-multilabel": ("chexpert",),
    "brixia-severity": ("brixia",),
    "brixia-zones": ("brixia",),
    "chexpert-nih-weak": ("chexpert", "nih-chestxray8"),
    "nih-bbox": ("nih-chestxray8",),        # concept set: NIH ChestX-ray8 images with BBox_List_2017 boxes
    "covid19-masks": ("covid19-cxr-seg",),  # concept set: COVID-19 CXR segmentation masks
    "cifar10": ("cifar10",),
    "mnist": ("mnist",),
    "fashion-mnist": ("fashion-mnist",),
    "mvtec-ad": ("mvtec-ad",),
    "nih-bbox": ("nih-chestxray8",),
    "covid19-masks": ("covid19-cxr-seg",),
    "imagenet-val": ("imagenet-val",),
    "birdsnap": ("birdsnap",),
    "retinal-oct": ("retinal-oct",),
    "headct": ("headct",),
    "brainmri": ("brainmri",),
}


def folders_of(view: str) -> tuple[str, ...]:
    """The data/ folders a view reads; ``textures/<category>`` reads ``textures``."""
    base = view.split("/")[0]
    if base not in VIEWS:
        raise UserError(f"unknown dataset view {view!r}; valid views: {', '.join(sorted(VIEWS))}")
    return VIEWS[base]
