"""What every real-dataset loader shares: finding files, reading CSVs with checked columns, decoding
images with errors that name the file, seeded patient-disjoint splits."""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from attriflow.errors import UserError

SPLIT_SEED = 0  # the seed of every split the authors made themselves (recorded in each set's meta)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def dataset_root(root: str | Path, name: str) -> Path:
    """Where a real dataset's files are: ``root/name`` (fetched) or ``root/name/root`` (registration,
    linked there by ``attriflow data locate``)."""
    from attriflow.data.registry import get

    ds = get(name)
    base = Path(root) / name
    where = base / "root" if ds.kind == "registration" else base
    if not where.exists():
        how = (f"`attriflow data fetch {name} --root {root}`" if ds.kind == "download" else
               f"`attriflow data locate {name} --path <folder> --root {root}` after requesting it at {ds.request_at}")
        raise UserError(f"{ds.description} ({name}) is not at {where}; place it with {how}")
    return where


def find_one(root: Path, pattern: str, what: str) -> Path:
    """The one path matching ``pattern`` under ``root`` (at any depth when the pattern starts with ``**/``)."""
    hits = sorted(glob.glob(str(root / pattern), recursive=True))
    if not hits:
        raise UserError(f"{root}: no {what} (nothing matches {pattern!r}); is the dataset unpacked there?")
    if len(hits) > 1:
        shortest = min(hits, key=len)
        return Path(shortest)
    return Path(hits[0])


def read_table(path: Path, columns: Iterable[str], sep: str = ",", **kwargs) -> pd.DataFrame:
    """A CSV with the columns a loader needs; a missing file or column is a UserError naming it."""
    if not path.is_file():
        raise UserError(f"{path} is missing: the dataset's label file is expected there")
    try:
        df = pd.read_csv(path, sep=sep, **kwargs)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise UserError(f"{path}: not a readable {'CSV' if sep == ',' else 'table'} ({exc})") from exc
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise UserError(f"{path}: missing column(s) {missing}; expected at least {list(columns)}, found {list(df.columns)}")
    return df


def image_files(folder: Path) -> list[Path]:
    """The image files directly in ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []


@dataclass(frozen=True)
class ImageDecoder:
    """Reads an image file as grey (``mode='L'``) or RGB; ``draft`` lets JPEG decode at a reduced size
    no smaller than ``draft`` (the resize that follows then starts from fewer pixels)."""

    mode: str = "RGB"
    draft: int | None = None

    def __call__(self, ref) -> tuple[np.ndarray, None]:
        return read_image(ref, self.mode, self.draft), None


def read_image(path, mode: str = "RGB", draft: int | None = None) -> np.ndarray:
    """uint8 (H, W) for ``mode='L'``, (H, W, 3) for ``'RGB'``; an unreadable file is a UserError naming it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            if draft and img.format == "JPEG":
                img.draft(mode, (draft, draft))
            if img.mode in ("I;16", "I;16B", "I"):  # 16-bit greyscale PNG
                a = np.asarray(img, dtype=np.float64)
                top = 65535.0 if a.max() > 4095 else 4095.0 if a.max() > 255 else 255.0
                grey = np.clip(a / top * 255.0, 0, 255).astype(np.uint8)
                img = Image.fromarray(grey)
            return np.asarray(img.convert(mode))
    except FileNotFoundError:
        raise UserError(f"{path}: image file is missing (listed by the dataset's labels)") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UserError(f"{path}: unreadable image ({exc}); expected a PNG or JPEG file") from exc


def read_mask(path, shape: tuple[int, int] | None = None) -> np.ndarray:
    """A mask image as bool (H, W): nonzero pixels are inside; a missing mask is all-False of ``shape``."""
    if path is None or not Path(path).is_file():
        if shape is None:
            raise UserError(f"{path}: mask file is missing")
        return np.zeros(shape, dtype=bool)
    return read_image(path, "L") > 0


def seeded_fraction(keys: Sequence[Any], fraction: float, seed: int = SPLIT_SEED) -> np.ndarray:
    """Boolean (N,): the items whose group key (e.g. a patient id) is in a seeded random ``fraction``
    of the distinct keys, so no group is on both sides."""
    groups = np.array(sorted(set(keys)), dtype=object)
    rng = np.random.default_rng(seed)
    n_held = max(1, int(round(len(groups) * fraction))) if len(groups) > 1 else 0
    held = set(groups[rng.permutation(len(groups))[:n_held]].tolist())
    return np.array([k in held for k in keys], dtype=bool)


def limit_index(n: int, limit: int | None, seed: int = SPLIT_SEED, labels: np.ndarray | None = None) -> np.ndarray:
    """Positions kept by ``limit``: a seeded random subset in file order (all when ``limit`` is None or >= n);
    random, not the first ``limit`` files, because real sets are stored sorted by class or patient.

    With ``labels`` (one class per item) the subset is stratified: each class keeps about its share
    of ``limit``, and every class keeps at least one item when ``limit`` >= the number of classes."""
    if limit is None or limit >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    if labels is None:
        return np.sort(rng.permutation(n)[:limit])
    labels = np.asarray(labels)
    # an item's key is its random rank within its class over the class size: every class's first
    # item has key 0, and taking the smallest keys keeps the class proportions
    key = np.empty(n)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        key[members[rng.permutation(len(members))]] = np.arange(len(members)) / len(members)
    order = np.lexsort((rng.random(n), key))
    return np.sort(order[:limit])
