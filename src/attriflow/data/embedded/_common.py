"""Shared machinery of the embedded generators: seeded streams, exact-ish image ops, atomic folders.

Bit-reproducibility is the point of this module. The generators only use:

- ``numpy.random.Generator(PCG64)`` seeded through ``SeedSequence(seed, spawn_key=(stream,))``,
  and of it only ``random()`` (uniform doubles) and ``integers()``, the two methods whose streams
  numpy has kept unchanged since 1.17. Normal-looking noise is an Irwin-Hall sum of uniforms and
  permutations are a stable argsort of uniforms, so no distribution code can change the bytes.
- element-wise float64 arithmetic (``+ - * /``, ``sqrt``, comparisons, ``floor``/``mod``), which
  IEEE 754 makes identical on every machine, and integer arithmetic. Blurs are binomial filters
  applied as shifted sums in a fixed order, resampling is explicit bilinear weights; there are no
  BLAS calls, FFTs or library resamplers whose summation order could differ between builds.
- constants derived from trigonometry are rounded to 12 decimals with Python's ``round`` so a
  1-ulp difference between platform ``libm``\\ s cannot reach them.

Results are quantised once, at the end, to ``uint8`` with round-half-even. Every folder is written
into a hidden temporary folder beside the target and renamed into place when complete, with
``meta.json`` written last.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np

from attriflow.utils.io import save_npy, write_json

PARTIAL_TAG = ".partial-"


# ---------------------------------------------------------------------------------------- streams
def stream(seed: int, *key: int) -> np.random.Generator:
    """An independent PCG64 stream for (seed, key...); the same arguments give the same stream everywhere."""
    if int(seed) < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(seed), spawn_key=tuple(int(k) for k in key))))


def uniform(rng: np.random.Generator, low, high, size) -> np.ndarray:
    """Uniform doubles in [low, high) from ``rng.random`` only."""
    return low + (high - low) * rng.random(size)


def normal(rng: np.random.Generator, size) -> np.ndarray:
    """Approximately standard-normal noise (Irwin-Hall sum of 4 uniforms; mean 0, variance 1)."""
    u = rng.random((4,) + tuple(np.atleast_1d(size)))
    return (u[0] + u[1] + u[2] + u[3] - 2.0) * 1.7320508075688772


def noise(rng: np.random.Generator, size) -> np.ndarray:
    """Cheap pixel noise with unit variance (triangular: sum of 2 uniforms)."""
    u = rng.random((2,) + tuple(np.atleast_1d(size)))
    return (u[0] + u[1] - 1.0) * 2.449489742783178


def permutation(rng: np.random.Generator, n: int) -> np.ndarray:
    """A random permutation of range(n) (stable argsort of uniforms)."""
    return np.argsort(rng.random(n), kind="stable")


def balanced_labels(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """n labels in 0..k-1, as balanced as possible, in random order."""
    return (np.arange(n) % k)[permutation(rng, n)].astype(np.int64)


def cos12(angle: float) -> float:
    return round(math.cos(angle), 12)


def sin12(angle: float) -> float:
    return round(math.sin(angle), 12)


def rotation(rng: np.random.Generator, n: int, max_turn: float | None) -> tuple[np.ndarray, np.ndarray]:
    """(cos, sin) of random rotations without calling trigonometric functions.

    ``max_turn`` is the bound on tan(angle) (so 0.36 is about 20 degrees); ``None`` gives any
    angle: a random quarter turn combined with an angle in +-45 degrees.
    """
    t = uniform(rng, -1.0 if max_turn is None else -max_turn, 1.0 if max_turn is None else max_turn, n)
    c = 1.0 / np.sqrt(1.0 + t * t)
    s = t * c
    q = rng.integers(0, 4, n)
    if max_turn is None:
        qc = np.array([1.0, 0.0, -1.0, 0.0])[q]
        qs = np.array([0.0, 1.0, 0.0, -1.0])[q]
        c, s = c * qc - s * qs, s * qc + c * qs
    return c, s


# ---------------------------------------------------------------------------------------- images
def grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates in [-1, 1] (exact binary fractions): (v (1, h, 1), u (1, 1, w))."""
    v = ((np.arange(h, dtype=np.float64) + 0.5) * (2.0 / h) - 1.0)[None, :, None]
    u = ((np.arange(w, dtype=np.float64) + 0.5) * (2.0 / w) - 1.0)[None, None, :]
    return v, u


def col(x) -> np.ndarray:
    """A per-image parameter (B,) as (B, 1, 1) for broadcasting over (B, H, W)."""
    return np.asarray(x, dtype=np.float64)[:, None, None]


def blur(x: np.ndarray, passes: int = 1) -> np.ndarray:
    """Binomial [1, 2, 1] / 4 blur over the last two axes, edges replicated; ``passes`` times.

    n passes approximate a Gaussian of sigma sqrt(n / 2) pixels.
    """
    for _ in range(passes):
        p = np.concatenate([x[..., :1, :], x, x[..., -1:, :]], axis=-2)
        x = (p[..., :-2, :] + 2.0 * p[..., 1:-1, :] + p[..., 2:, :]) * 0.25
        p = np.concatenate([x[..., :1], x, x[..., -1:]], axis=-1)
        x = (p[..., :-2] + 2.0 * p[..., 1:-1] + p[..., 2:]) * 0.25
    return x


def upsample_bilinear(z: np.ndarray, h: int, w: int) -> np.ndarray:
    """(..., gh, gw) -> (..., h, w) by explicit bilinear weights (corners aligned)."""
    gh, gw = z.shape[-2:]
    fy = np.arange(h, dtype=np.float64) * ((gh - 1) / (h - 1))
    fx = np.arange(w, dtype=np.float64) * ((gw - 1) / (w - 1))
    y0 = np.minimum(np.floor(fy).astype(np.int64), gh - 2)
    x0 = np.minimum(np.floor(fx).astype(np.int64), gw - 2)
    wy = (fy - y0)[:, None]
    wx = (fx - x0)[None, :]
    a = z[..., y0, :][..., :, x0]
    b = z[..., y0, :][..., :, x0 + 1]
    c = z[..., y0 + 1, :][..., :, x0]
    d = z[..., y0 + 1, :][..., :, x0 + 1]
    return (a * (1.0 - wx) + b * wx) * (1.0 - wy) + (c * (1.0 - wx) + d * wx) * wy


def smooth_noise(rng: np.random.Generator, n: int, cells: int, h: int, w: int) -> np.ndarray:
    """Low-frequency noise in about [-1, 1]: a (cells+1)^2 random grid, bilinear upsampled, blurred once."""
    z = 2.0 * rng.random((n, cells + 1, cells + 1)) - 1.0
    return blur(upsample_bilinear(z, h, w), 1)


def downsample_mean(x: np.ndarray, f: int) -> np.ndarray:
    """Average f x f blocks of the last two axes (supersampling -> coverage)."""
    if f == 1:
        return x
    *lead, h, w = x.shape
    return x.reshape(*lead, h // f, f, w // f, f).mean(axis=(-3, -1))


def to_uint8(x: np.ndarray) -> np.ndarray:
    """[0, 1] floats -> uint8 (round half to even, clipped)."""
    return np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)


def bump(q: np.ndarray) -> np.ndarray:
    """Smooth polynomial falloff: 1 at q = 0, 0 for q >= 1 (q is a squared normalised radius)."""
    t = np.clip(1.0 - q, 0.0, 1.0)
    return t * t


def boxes_of(masks: np.ndarray) -> np.ndarray:
    """Bounding boxes (y0, x0, y1, x1), inclusive, of bool masks (..., H, W); -1 where empty."""
    rows = masks.any(axis=-1)
    cols = masks.any(axis=-2)
    h, w = masks.shape[-2:]
    empty = ~rows.any(axis=-1)
    y0 = np.argmax(rows, axis=-1)
    y1 = h - 1 - np.argmax(rows[..., ::-1], axis=-1)
    x0 = np.argmax(cols, axis=-1)
    x1 = w - 1 - np.argmax(cols[..., ::-1], axis=-1)
    out = np.stack([y0, x0, y1, x1], axis=-1).astype(np.int16)
    out[empty] = -1
    return out


def split_sizes(n: int, fractions: dict[str, float]) -> dict[str, int]:
    """Split n items by fractions (in order); the first split takes the rounding remainder."""
    names = list(fractions)
    sizes = {k: int(n * fractions[k]) for k in names[1:]}
    sizes = {names[0]: n - sum(sizes.values()), **sizes}
    if any(v < 1 for v in sizes.values()):
        raise ValueError(f"n={n} is too small to split into {fractions}")
    return sizes


# ---------------------------------------------------------------------------------------- files
def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale(out_dir: Path) -> list[Path]:
    """Remove temporary folders left beside ``out_dir`` by generator runs that were killed."""
    removed = []
    parent = out_dir.parent
    if not parent.is_dir():
        return removed
    prefix = f".{out_dir.name}{PARTIAL_TAG}"
    for p in parent.iterdir():
        if not p.name.startswith(prefix):
            continue
        pid = p.name[len(prefix):].split(".")[0]
        if pid.isdigit() and _alive(int(pid)) and int(pid) != os.getpid():
            continue  # another live run is writing it
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
    return removed


@contextlib.contextmanager
def atomic_dir(out_dir: Path) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``out_dir``; on success it replaces ``out_dir``.

    On an exception the temporary folder is removed and ``out_dir`` is untouched. A run killed
    outright leaves only a hidden ``.<name>.partial-<pid>.*`` folder, which the next run removes.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(out_dir)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}{PARTIAL_TAG}{os.getpid()}.", dir=out_dir.parent))
    try:
        yield tmp
        old = None
        if out_dir.exists() or out_dir.is_symlink():
            old = out_dir.parent / f".{out_dir.name}{PARTIAL_TAG}{os.getpid()}.old"
            if old.exists():
                shutil.rmtree(old)
            os.replace(out_dir, old)  # the previous version, removed once the new one is in place
        os.replace(tmp, out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def save(folder: Path, name: str, array: np.ndarray) -> None:
    """``folder/name.npy``, uncompressed, written atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    save_npy(folder / f"{name}.npy", array)


def finish(folder: Path, meta: dict) -> None:
    """Write ``meta.json`` last: its presence marks a complete dataset folder."""
    write_json(folder / "meta.json", meta)
