"""``shapes``: RGB scenes of one object among 10 shape classes, with the object's pixel mask.

The stand-in for CIFAR-10 (32 px, ResNet8 and ROAR) and ImageNet (64 px, classification,
localisation, pretraining). The class is the object's *shape*: object and background colours are
random and independent of the class, backgrounds are textured (smooth blobs, stripes, checks or
fine noise) and carry distractor clutter (thin lines and dots), so a model has to find the object
and an attribution map has to point at it. Size, position, rotation (bounded where a turn would
make one class look like another: square vs diamond, cross vs an x), aspect (ellipse), shading
and noise vary per image. Shapes are drawn with 2 x 2 supersampling; the mask is where the object
covers at least half of a pixel.

Classes are balanced within every split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from attriflow.data.embedded._common import (
    atomic_dir, balanced_labels, blur, col, cos12, downsample_mean, finish, noise, rotation, save,
    sin12, smooth_noise, split_sizes, stream, to_uint8, uniform,
)

NAME = "shapes"
VERSION = 1
CLASSES = ("circle", "square", "triangle", "cross", "star", "ring", "ellipse", "diamond", "hexagon", "heart")
RESOLUTIONS = {32: 6000, 64: 3700}  # images per resolution at full size
FRACTIONS = {32: {"train": 5000 / 6000, "val": 250 / 6000, "test": 750 / 6000},
             64: {"train": 3000 / 3700, "val": 200 / 3700, "test": 500 / 3700}}
SPLITS = ("train", "val", "test")
SUPERSAMPLE = 2
CHUNK = 256
# bound on tan(rotation) per class; None = any rotation
_TURN = {"circle": None, "square": 0.36, "triangle": 0.47, "cross": 0.36, "star": None, "ring": None,
         "ellipse": None, "diamond": 0.27, "hexagon": None, "heart": 0.36}

_TRI = [(cos12(np.pi / 2 + k * 2 * np.pi / 3), sin12(np.pi / 2 + k * 2 * np.pi / 3)) for k in range(3)]
_HEX = [(cos12(k * np.pi / 3), sin12(k * np.pi / 3)) for k in range(3)]
_HEX_R = cos12(np.pi / 6)
# pentagram: the five lines through tips j and j+2; tips point up (image y grows downwards)
_STAR_ANGLES = [-np.pi / 2 + 2 * np.pi * j / 5 + 2 * np.pi / 5 for j in range(5)]  # normals: tip j + 72 degrees
_STAR = [(cos12(t), sin12(t)) for t in _STAR_ANGLES]
_STAR_D = cos12(2 * np.pi / 5)


def _inside(cls: str, X: np.ndarray, Y: np.ndarray, aspect: np.ndarray) -> np.ndarray:
    """Membership of points (X, Y) in the unit-size shape of class ``cls`` (image y downwards)."""
    if cls == "circle":
        return X * X + Y * Y <= 0.85**2
    if cls == "square":
        return np.maximum(np.abs(X), np.abs(Y)) <= 0.72
    if cls == "triangle":  # equilateral, circumradius 1.05, pointing up
        out = np.ones(X.shape, dtype=bool)
        for nx, ny in _TRI:
            out &= nx * X + ny * Y <= 0.525
        return out
    if cls == "cross":
        ax, ay = np.abs(X), np.abs(Y)
        return ((ax <= 0.28) & (ay <= 0.9)) | ((ay <= 0.28) & (ax <= 0.9))
    if cls == "star":  # inside at least 4 of the 5 half-planes of the pentagram's lines
        bad = sum((nx * X + ny * Y > _STAR_D).astype(np.int8) for nx, ny in _STAR)
        return bad <= 1
    if cls == "ring":
        r2 = X * X + Y * Y
        return (r2 <= 0.9**2) & (r2 >= 0.5**2)
    if cls == "ellipse":
        return (X / 0.95) ** 2 + (Y / (0.95 * aspect)) ** 2 <= 1.0
    if cls == "diamond":
        return np.abs(X) / 0.62 + np.abs(Y) / 0.95 <= 1.0
    if cls == "hexagon":
        out = np.ones(X.shape, dtype=bool)
        for nx, ny in _HEX:
            out &= np.abs(nx * X + ny * Y) <= 0.9 * _HEX_R
        return out
    if cls == "heart":  # (x^2 + y^2 - 1)^3 - x^2 y^3 <= 0, y up
        x, y = X * 1.2, -Y * 1.2 + 0.1
        t = x * x + y * y - 1.0
        return t * t * t - x * x * y * y * y <= 0.0
    raise KeyError(cls)


def _background(rng: np.random.Generator, B: int, S: int) -> tuple[np.ndarray, np.ndarray]:
    """Textured backgrounds (B, 3, S, S) and their mean colours (B, 3)."""
    yy = (np.arange(S, dtype=np.float64) + 0.5)[None, :, None] / S
    xx = (np.arange(S, dtype=np.float64) + 0.5)[None, None, :] / S
    kind = rng.integers(0, 4, B)[:, None, None]
    blobs = 0.5 + 0.5 * smooth_noise(rng, B, 4, S, S)
    fine = 0.5 + 0.5 * smooth_noise(rng, B, max(4, S // 4), S, S)
    c, s = rotation(rng, B, None)
    freq = col(uniform(rng, 3.0, 8.0, B))
    phase = col(rng.random(B))
    w = (xx * col(c) + yy * col(s)) * freq + phase
    stripes = 2.0 * np.abs(np.mod(w, 1.0) - 0.5)
    f1, f2 = col(rng.integers(3, 7, B)), col(rng.integers(3, 7, B))
    checks = blur(np.mod(np.floor(xx * f1 + phase) + np.floor(yy * f2), 2.0), 1)
    t = np.where(kind == 0, blobs, np.where(kind == 1, stripes, np.where(kind == 2, checks, fine)))
    c1 = rng.random((B, 3))
    c2 = np.clip(c1 + uniform(rng, -0.35, 0.35, (B, 3)), 0.0, 1.0)
    bg = c1[:, :, None, None] * (1.0 - t[:, None]) + c2[:, :, None, None] * t[:, None]
    return bg, 0.5 * (c1 + c2)


def _pick_colour(rng: np.random.Generator, bg_mean: np.ndarray, candidates: int = 8, min_dist: float = 0.3) -> np.ndarray:
    """A random colour per image that stands out from its background (first of several candidates)."""
    B = len(bg_mean)
    cand = rng.random((B, candidates, 3))
    d = np.sqrt(((cand - bg_mean[:, None]) ** 2).sum(axis=2))
    ok = d >= min_dist
    choice = np.where(ok.any(axis=1), np.argmax(ok, axis=1), np.argmax(d, axis=1))
    return cand[np.arange(B), choice]


def _distractor(rng: np.random.Generator, B: int, S: int, present: np.ndarray):
    """A thin line (60%) or a dot per image where ``present``: coverage (B, S, S) and colour (B, 3, 1, 1).

    Drawn at the image resolution with an analytic anti-aliased edge (coverage = 0.5 + distance
    inside the edge, clipped), which is cheaper than supersampling and as exact.
    """
    is_line = rng.random(B) < 0.6
    x0, y0 = uniform(rng, 0, S, B), uniform(rng, 0, S, B)
    length = uniform(rng, 0.25, 0.5, B) * S
    dc, ds = rotation(rng, B, None)
    half_w = uniform(rng, 0.35, 0.6, B) * (S / 32)
    rad = uniform(rng, 0.04, 0.08, B) * S
    p = np.arange(S, dtype=np.float64) + 0.5
    ex, ey = p[None, None, :] - col(x0), p[None, :, None] - col(y0)
    t = np.clip(ex * col(dc) + ey * col(ds), 0.0, col(length))
    dx, dy = ex - t * col(dc), ey - t * col(ds)
    edge = np.where(col(is_line), col(half_w) - np.sqrt(dx * dx + dy * dy), col(rad) - np.sqrt(ex * ex + ey * ey))
    cover = np.clip(edge + 0.5, 0.0, 1.0) * present[:, None, None]
    return cover, rng.random((B, 3))[:, :, None, None]


def _render(rng: np.random.Generator, labels: np.ndarray, S: int):
    B = len(labels)
    ss = SUPERSAMPLE
    n = S * ss
    img, bg_mean = _background(rng, B, S)
    pix = (np.arange(n, dtype=np.float64) + 0.5) / ss  # supersample centres in pixel units
    py, px = pix[None, :, None], pix[None, None, :]

    # distractors: up to 4 thin lines or dots, drawn under the object
    n_dis = rng.integers(1, 5, B)
    for j in range(4):
        alpha, colour = _distractor(rng, B, S, j < n_dis)
        img = img * (1.0 - alpha[:, None]) + colour * alpha[:, None]

    # the object
    r = uniform(rng, 0.25, 0.40, B) * S
    cx = uniform(rng, 0.0, 1.0, B) * (S - 1.9 * r) + 0.95 * r
    cy = uniform(rng, 0.0, 1.0, B) * (S - 1.9 * r) + 0.95 * r
    aspect = uniform(rng, 0.40, 0.60, B)
    rc_any, rs_any = rotation(rng, B, None)
    t_small = uniform(rng, -1.0, 1.0, B)
    inside = np.zeros((B, n, n), dtype=bool)
    for k, cls in enumerate(CLASSES):
        idx = np.flatnonzero(labels == k)
        if len(idx) == 0:
            continue
        if _TURN[cls] is None:
            c, s = rc_any[idx], rs_any[idx]
        else:
            t = t_small[idx] * _TURN[cls]
            c = 1.0 / np.sqrt(1.0 + t * t)
            s = t * c
        ex, ey = px - col(cx[idx]), py - col(cy[idx])
        X = (ex * col(c) + ey * col(s)) / col(r[idx])
        Y = (-ex * col(s) + ey * col(c)) / col(r[idx])
        inside[idx] = _inside(cls, X, Y, col(aspect[idx]))
    alpha = downsample_mean(inside.astype(np.float64), ss)
    colour = _pick_colour(rng, bg_mean)
    shade = 1.0 + 0.12 * smooth_noise(rng, B, 3, S, S)[:, None]
    obj = np.clip(colour[:, :, None, None] * shade, 0.0, 1.0)
    img = img * (1.0 - alpha[:, None]) + obj * alpha[:, None]
    # a quarter of the objects are partly occluded by one more line or dot
    occ, occ_colour = _distractor(rng, B, S, rng.random(B) < 0.25)
    img = img * (1.0 - occ[:, None]) + occ_colour * occ[:, None]
    alpha = alpha * (1.0 - occ)
    img = img + col(uniform(rng, 0.01, 0.05, B))[:, None] * noise(rng, (B, 3, S, S))
    return to_uint8(img), alpha >= 0.5, to_uint8(colour)


def _make(seed: int, S: int, n: int) -> dict[str, dict[str, np.ndarray]]:
    sizes = split_sizes(n, FRACTIONS[S])
    out = {}
    for si, split in enumerate(SPLITS):
        labels = balanced_labels(stream(seed, S, si, 0), sizes[split], len(CLASSES))
        parts = [_render(stream(seed, S, si, 1, i), labels[start:start + CHUNK], S)
                 for i, start in enumerate(range(0, len(labels), CHUNK))]
        out[split] = {
            "images": np.concatenate([p[0] for p in parts]),
            "labels": labels.astype(np.uint8),
            "masks": np.concatenate([p[1] for p in parts]),
            "colors": np.concatenate([p[2] for p in parts]),
        }
    return out


def generate(out_dir: Path, seed: int = 0, n: int | None = None) -> Path:
    """Write ``<res>/<split>/{images,labels,masks,colors}.npy`` for res 32 and 64, then ``meta.json``.

    ``n`` (for tests) sets the number of images per resolution; by default 6000 at 32 px
    (5000 / 250 / 750) and 3700 at 64 px (3000 / 200 / 500).
    """
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        splits = {}
        for S, full in RESOLUTIONS.items():
            data = _make(seed, S, full if n is None else int(n))
            splits[str(S)] = {split: int(len(d["labels"])) for split, d in data.items()}
            for split, arrays in data.items():
                for key, arr in arrays.items():
                    save(tmp / str(S) / split, key, arr)
        finish(tmp, {
            "name": NAME, "kind": "embedded", "generator": f"attriflow.data.embedded.shapes v{VERSION}", "version": VERSION,
            "seed": int(seed), "classes": list(CLASSES), "resolutions": sorted(RESOLUTIONS), "splits": splits,
            "files": {
                "images": "uint8 (N, 3, S, S)",
                "labels": "uint8 (N,), index into classes",
                "masks": "bool (N, S, S), the object's pixels",
                "colors": "uint8 (N, 3), the object's base colour",
            },
        })
    return out_dir
