"""The train / val / test sets of a run: loaded by view name, a validation part held out where a
view has none, several views merged into one multi-class task (e.g. shapes and textures for the
MKD expert)."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from attriflow.data.imageset import ImageSet
from attriflow.errors import UserError

HOLDOUT_SEED = 0  # the same validation part for every run on a view, whatever the training seed


@dataclass
class Splits:
    train: ImageSet
    val: ImageSet
    test: ImageSet

    def items(self):
        return {"train": self.train, "val": self.val, "test": self.test}.items()


def holdout(data: ImageSet, fraction: float, seed: int = HOLDOUT_SEED) -> tuple[ImageSet, ImageSet]:
    """``(rest, held)``: a seeded random ``fraction`` of ``data`` (at least one item) held out."""
    if len(data) < 2:
        raise UserError(f"dataset {data.name!r}: {len(data)} training image(s), too few to hold out a validation part")
    n_held = min(len(data) - 1, max(1, round(len(data) * fraction)))
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    held, rest = order[:n_held].sort().values, order[n_held:].sort().values
    return data.subset(rest), data.subset(held)


def merge_views(sets: Sequence[ImageSet], name: str = "") -> ImageSet:
    """One multi-class set from several: a multi-class view keeps its classes (named ``view:class``),
    any other view becomes one class named after it. Grey images are repeated to RGB when the
    views mix channels; images are resized to the first view's size. Masks are dropped."""
    if len(sets) == 1:
        return sets[0]
    streamed = [s.name for s in sets if not isinstance(s, ImageSet)]
    if streamed:
        raise UserError(f"merging views into one task needs them in memory; {streamed} are streamed real sets: "
                        f"train on one view at a time")
    channels = {s.images.shape[1] for s in sets}
    if len(channels) > 1 and channels != {1, 3}:
        raise UserError(f"cannot merge views with {sorted(channels)} channels: {[s.name for s in sets]}")
    size = tuple(sets[0].images.shape[-2:])
    images, targets, names = [], [], []
    for s in sets:
        x = s.images.expand(-1, 3, -1, -1) if len(channels) > 1 and s.images.shape[1] == 1 else s.images
        if tuple(x.shape[-2:]) != size:
            x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)
        if s.task == "multiclass":
            k = len(s.class_names) or int(s.targets.max()) + 1
            targets.append(s.targets.long() + len(names))
            names += [f"{s.name}:{c}" for c in (s.class_names or range(k))]
        else:
            targets.append(torch.full((len(s),), len(names), dtype=torch.long))
            names.append(s.name)
        images.append(x)
    return ImageSet(images=torch.cat(images), targets=torch.cat(targets), task="multiclass", class_names=names,
                    name=name or "+".join(s.name for s in sets), meta={"views": [s.name for s in sets]})


def merge_splits(per_view: Sequence[Splits]) -> Splits:
    """Merge the splits of several views split by split (class numbering agrees across splits)."""
    if len(per_view) == 1:
        return per_view[0]
    return Splits(*(merge_views([getattr(s, part) for s in per_view]) for part in ("train", "val", "test")))


def expand_views(dataset: str | list[str]) -> list[str]:
    """The view names a spec's ``dataset`` stands for; shell patterns (``textures/*``) expand to the known views."""
    from attriflow.data.loading import DATASETS
    from attriflow.data.real import REAL_VIEWS

    known = list(DATASETS) + list(REAL_VIEWS)
    names = dataset if isinstance(dataset, list) else [dataset]
    out: list[str] = []
    for name in names:
        if any(c in name for c in "*?["):
            found = [d for d in known if fnmatch.fnmatch(d, name)]
            if not found:
                raise UserError(f"dataset pattern {name!r} matches no view; views: {', '.join(known)}")
            out += found
        else:
            out.append(name)
    return out


def load_splits(spec: dict[str, Any]) -> Splits:
    """The train / val / test sets a (normalised) spec asks for, read with ``attriflow.data.load_dataset``.
    A view without train split (ImageNet validation) serves a run of 0 epochs, its val set standing in for train."""
    from attriflow.data.loading import load_dataset, view_splits

    per_view = []
    for name in expand_views(spec["dataset"]):
        splits = view_splits(name)

        def load(split: str, limit: int | None = None) -> ImageSet:
            return load_dataset(name, root=spec["data_root"], split=split, limit=limit, image_size=spec["image_size"])

        if "train" not in splits:
            if spec["epochs"] != 0:
                raise UserError(f"dataset {name!r} has no train split (splits: {', '.join(splits)}); "
                                f"set the run's epochs to 0 to use its initial weights ({spec['init']}) as they are")
            val = load("val")
            train = val  # nothing is trained: the val set stands in for shapes and class names
        elif "val" in splits:
            train, val = load("train", spec["limit"]), load("val")
        else:
            train, val = holdout(load("train", spec["limit"]), spec["val_fraction"])
        if "test" not in splits:
            raise UserError(f"dataset {name!r} has no test split (splits: {', '.join(splits)})")
        per_view.append(Splits(train, val, load("test")))
    return merge_splits(per_view)
