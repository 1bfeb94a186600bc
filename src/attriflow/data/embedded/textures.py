"""``textures``: an MVTec-AD-like anomaly set: 15 categories, normal training images, defects with masks.

The stand-in for MVTec AD in the MKD paper. The 15 categories carry MVTec AD's names so a table
can put ours beside the paper's per-category numbers: 5 procedural textures (carpet, grid,
leather, tile, wood) and 10 simple drawn objects (bottle seen from above, cable cross-section,
capsule, hazelnut, metal nut, pill, screw, toothbrush head, transistor, zipper). Normal images
vary in phase, position, rotation where the real objects rotate (screw, metal nut, hazelnut),
colour and noise. Defects are planted on the object (anywhere on textures), five kinds:
scratch (a thin bright or dark line), hole (a dark pit with a light rim), stain (a soft
discoloured blotch), crack (a dark jagged polyline) and color_spot (a small spot of a foreign
colour), each with its pixel mask.

Per category: train = 80 normal images; test = 20 normal + 30 defective (6 of each kind), in a
random order. 64 x 64 RGB (the loader resizes, e.g. to 32 px for MKD at demo scale).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from attriflow.data.embedded._common import (
    atomic_dir, bump, col, finish, noise, permutation, rotation, save, smooth_noise, stream,
    to_uint8, uniform,
)

NAME = "textures"
VERSION = 1
SIZE = 64
TEXTURES = ("carpet", "grid", "leather", "tile", "wood")
OBJECTS = ("bottle", "cable", "capsule", "hazelnut", "metal_nut", "pill", "screw", "toothbrush", "transistor", "zipper")
CATEGORIES = TEXTURES + OBJECTS
DEFECTS = ("scratch", "hole", "stain", "crack", "color_spot")
N_TRAIN, N_TEST_GOOD, N_TEST_BAD = 80, 20, 30


def _pixels(S: int):
    p = np.arange(S, dtype=np.float64) + 0.5
    return p[None, :, None], p[None, None, :]  # y (1, S, 1), x (1, 1, S) in pixels


def _tri(x: np.ndarray) -> np.ndarray:
    """Triangle wave of period 1 in [0, 1] (1 at integers)."""
    return 2.0 * np.abs(np.mod(x, 1.0) - 0.5)


def _rgb(base: np.ndarray, shade: np.ndarray) -> np.ndarray:
    """base colours (B, 3) times a shade field (B, S, S) -> (B, 3, S, S)."""
    return base[:, :, None, None] * shade[:, None]


def _mix(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Blend (B, 3, S, S) or (B, 3, 1, 1) images by t (B, S, S) in [0, 1] (t = 1 -> b)."""
    return a * (1.0 - t[:, None]) + b * t[:, None]


def _jitter(rng, B, base, amount=0.06):
    return np.clip(np.asarray(base, dtype=np.float64)[None, :] + uniform(rng, -amount, amount, (B, 3)), 0.0, 1.0)


def _frame(rng, B, S, shift=2.0, turn=0.08, any_turn=False):
    """Object-centred coordinates (X, Y) in units of S/2, with a random shift and rotation."""
    y, x = _pixels(S)
    cx = col(S / 2 + uniform(rng, -shift, shift, B))
    cy = col(S / 2 + uniform(rng, -shift, shift, B))
    c, s = rotation(rng, B, None if any_turn else turn)
    ex, ey = (x - cx) / (S / 2), (y - cy) / (S / 2)
    return ex * col(c) + ey * col(s), -ex * col(s) + ey * col(c)


def _soft(edge: np.ndarray, S: int) -> np.ndarray:
    """Anti-aliased coverage from a signed distance in frame units (positive inside)."""
    return np.clip(edge * (S / 2) + 0.5, 0.0, 1.0)


# ------------------------------------------------------------------------------ normal images
def _carpet(rng, B, S):
    y, x = _pixels(S)
    p = col(uniform(rng, 3.5, 5.0, B))
    n1, n2 = smooth_noise(rng, B, 6, S, S), smooth_noise(rng, B, 6, S, S)
    weave = 0.5 * (_tri(x / p + 0.35 * n1) + _tri(y / p + 0.35 * n2))
    fib = 0.5 + 0.5 * smooth_noise(rng, B, 31, S, S)
    shade = 0.55 + 0.3 * weave + 0.15 * fib
    return _rgb(_jitter(rng, B, (0.55, 0.58, 0.66)), shade), np.ones((B, S, S), bool)


def _grid(rng, B, S):
    y, x = _pixels(S)
    p = col(uniform(rng, 7.0, 9.0, B))
    wx, wy = 1.2 * smooth_noise(rng, B, 3, S, S), 1.2 * smooth_noise(rng, B, 3, S, S)
    ox, oy = col(rng.random(B)), col(rng.random(B))
    lines = np.maximum(_tri((x + wx) / p + ox), _tri((y + wy) / p + oy))
    wire = np.clip((lines - 0.72) / 0.2, 0.0, 1.0)
    shade = 0.78 - 0.55 * wire + 0.06 * smooth_noise(rng, B, 15, S, S)
    return _rgb(_jitter(rng, B, (0.9, 0.9, 0.88), 0.04), shade), np.ones((B, S, S), bool)


def _leather(rng, B, S):
    cells = smooth_noise(rng, B, 9, S, S)
    crease = np.clip(1.0 - np.abs(cells) / 0.09, 0.0, 1.0)
    grain = smooth_noise(rng, B, 31, S, S)
    shade = 0.8 - 0.28 * crease + 0.07 * grain
    return _rgb(_jitter(rng, B, (0.55, 0.36, 0.22)), shade), np.ones((B, S, S), bool)


def _tile(rng, B, S):
    y, x = _pixels(S)
    k = 14
    sx, sy = uniform(rng, -4, S + 4, (B, k)), uniform(rng, -4, S + 4, (B, k))
    d2 = (x[:, None] - sx[:, :, None, None]) ** 2 + (y[:, None] - sy[:, :, None, None]) ** 2  # (B, k, S, S)
    order = np.argsort(d2, axis=1, kind="stable")
    nearest = order[:, 0]
    d_sorted = np.take_along_axis(d2, order[:, :2], axis=1)
    edge = np.sqrt(d_sorted[:, 1]) - np.sqrt(d_sorted[:, 0]) < 1.6
    level = uniform(rng, 0.72, 0.95, (B, k))
    shade = np.take_along_axis(level, nearest.reshape(B, -1), axis=1).reshape(B, S, S)
    specks = (smooth_noise(rng, B, 31, S, S) > 0.55) * 0.25
    shade = shade - 0.35 * edge - specks
    return _rgb(_jitter(rng, B, (0.85, 0.86, 0.84), 0.04), shade), np.ones((B, S, S), bool)


def _wood(rng, B, S):
    y, x = _pixels(S)
    p = col(uniform(rng, 5.0, 8.0, B))
    warp = 5.0 * smooth_noise(rng, B, 3, S, S) + 1.0 * smooth_noise(rng, B, 8, S, S)
    grain = _tri((x + warp + 0.15 * y) / p + col(rng.random(B)))
    fibre = smooth_noise(rng, B, 31, S, S)
    shade = 0.62 + 0.28 * grain * grain + 0.05 * fibre
    return _rgb(_jitter(rng, B, (0.72, 0.5, 0.3)), shade), np.ones((B, S, S), bool)


def _bottle(rng, B, S):
    X, Y = _frame(rng, B, S)
    r = np.sqrt(X * X + Y * Y)
    R = col(uniform(rng, 0.80, 0.88, B))
    rim = _soft(R - r, S)
    inner = _soft(0.62 * R - r, S)
    ring = np.clip(1.0 - np.abs(r - 0.3 * R) / 0.08, 0.0, 1.0)
    shade = 0.05 + 0.55 * rim - 0.3 * inner + 0.35 * ring * inner + 0.04 * smooth_noise(rng, B, 7, S, S) * rim
    return _rgb(_jitter(rng, B, (0.62, 0.55, 0.42)), shade), rim >= 0.5


def _cable(rng, B, S):
    X, Y = _frame(rng, B, S, turn=0.15)
    img = np.full((B, 3, S, S), 0.25) + 0.03 * smooth_noise(rng, B, 5, S, S)[:, None]
    sheath = _soft(0.9 - np.sqrt(X * X + Y * Y), S)
    img = _mix(img, _jitter(rng, B, (0.78, 0.78, 0.74))[:, :, None, None], sheath)
    colours = ((0.2, 0.6, 0.25), (0.2, 0.35, 0.75), (0.5, 0.35, 0.2))
    for k, (cxk, cyk) in enumerate(((0.0, -0.4), (-0.35, 0.2), (0.35, 0.2))):
        d = np.sqrt((X - cxk) ** 2 + (Y - cyk) ** 2)
        img = _mix(img, _jitter(rng, B, colours[k])[:, :, None, None], _soft(0.3 - d, S))
        img = _mix(img, np.array([0.85, 0.55, 0.3])[None, :, None, None], _soft(0.12 - d, S))
    return img, sheath >= 0.5


def _capsule(rng, B, S):
    X, Y = _frame(rng, B, S, turn=0.05)
    L, R = 0.55, col(uniform(rng, 0.30, 0.36, B))
    qx = np.clip(X, -L, L)
    body = _soft(R - np.sqrt((X - qx) ** 2 + Y * Y), S)
    img = np.full((B, 3, S, S), 0.88) + 0.02 * smooth_noise(rng, B, 5, S, S)[:, None]
    half = np.clip((X * (S / 2)) + 0.5, 0.0, 1.0)
    black = _jitter(rng, B, (0.12, 0.12, 0.12), 0.03)[:, :, None, None]
    orange = _jitter(rng, B, (0.85, 0.55, 0.15))[:, :, None, None]
    cap = _mix(black, orange, half)
    print_marks = (np.abs(Y) < 0.09) & (np.mod((X - 0.2) * 7.0, 1.0) < 0.45) & (X > 0.2) & (X < 0.75)
    cap = _mix(cap, np.full((B, 3, 1, 1), 0.95), print_marks * 0.9)
    shade = 1.0 - 0.25 * (Y / R) ** 2
    return _mix(img, cap * shade[:, None], body), body >= 0.5


def _hazelnut(rng, B, S):
    X, Y = _frame(rng, B, S, shift=3.0, any_turn=True)
    q = (X / 0.78) ** 2 + (Y / 0.66) ** 2
    nut = _soft((1.0 - q) * 0.35, S)
    streak = _tri(Y * 4.0 + 0.8 * smooth_noise(rng, B, 4, S, S))
    shade = 0.75 + 0.2 * streak - 0.25 * q
    img = np.full((B, 3, S, S), 0.06) + 0.02 * smooth_noise(rng, B, 5, S, S)[:, None]
    return _mix(img, _rgb(_jitter(rng, B, (0.62, 0.4, 0.2)), shade), nut), nut >= 0.5


def _metal_nut(rng, B, S):
    X, Y = _frame(rng, B, S, any_turn=True)
    r = np.sqrt(X * X + Y * Y)
    tabs = np.minimum(np.abs(X), np.abs(Y)) < 0.22
    outer = np.where(tabs, 0.86, 0.68)
    nut = _soft(outer - r, S) * _soft(r - 0.26, S)
    shade = 0.7 + 0.15 * X - 0.1 * Y + 0.05 * smooth_noise(rng, B, 9, S, S)
    img = np.full((B, 3, S, S), 0.05)
    return _mix(img, _rgb(_jitter(rng, B, (0.72, 0.74, 0.78), 0.04), shade), nut), nut >= 0.5


def _pill(rng, B, S):
    X, Y = _frame(rng, B, S, turn=0.04)
    q = (X / 0.82) ** 2 + (Y / 0.45) ** 2
    pill = _soft((1.0 - q) * 0.3, S)
    specks = (smooth_noise(rng, B, 31, S, S) > 0.62) * 0.8
    groove = np.clip(1.0 - np.abs(X) / 0.03, 0.0, 1.0) * 0.15
    base = _rgb(_jitter(rng, B, (0.93, 0.92, 0.88), 0.03), 1.0 - 0.12 * q - groove)
    base = _mix(base, np.array([0.75, 0.2, 0.15])[None, :, None, None], specks * (pill >= 0.5))
    img = np.full((B, 3, S, S), 0.3) + 0.03 * smooth_noise(rng, B, 5, S, S)[:, None]
    return _mix(img, base, pill), pill >= 0.5


def _screw(rng, B, S):
    X, Y = _frame(rng, B, S, shift=4.0, any_turn=True)
    shaft = _soft(np.minimum(0.1 - np.abs(Y), np.minimum(X + 0.45, 0.75 - X)), S)
    head = _soft(0.2 - np.sqrt((X + 0.55) ** 2 + Y * Y), S)
    screw = np.maximum(shaft, head)
    thread = _tri(X * 9.0) * (X > -0.42)
    shade = 0.45 + 0.25 * thread * shaft - 0.1 * np.abs(Y) / 0.1
    img = np.full((B, 3, S, S), 0.82) + 0.03 * smooth_noise(rng, B, 5, S, S)[:, None]
    return _mix(img, _rgb(_jitter(rng, B, (0.6, 0.6, 0.62), 0.04), shade), screw), screw >= 0.5


def _toothbrush(rng, B, S):
    y, x = _pixels(S)
    X, Y = _frame(rng, B, S, turn=0.03)
    head = _soft(np.minimum(0.5 - np.abs(X), 0.85 - np.abs(Y)), S)
    p = col(uniform(rng, 5.0, 6.0, B))
    tuft = (np.minimum(_tri(x / p), 1.0) * np.minimum(_tri(y / p), 1.0)) > 0.3
    colour_a = _jitter(rng, B, (0.92, 0.92, 0.95), 0.03)[:, :, None, None]
    colour_b = _jitter(rng, B, (0.25, 0.45, 0.85))[:, :, None, None]
    stripe = (np.abs(X) < 0.2).astype(np.float64)
    bristles = _mix(colour_a, colour_b, stripe) * (0.75 + 0.25 * tuft)[:, None]
    img = np.full((B, 3, S, S), 0.12)
    return _mix(img, bristles, head), head >= 0.5


def _transistor(rng, B, S):
    X, Y = _frame(rng, B, S, shift=1.5, turn=0.04)
    board = _jitter(rng, B, (0.35, 0.5, 0.3))[:, :, None, None] * (0.9 + 0.1 * smooth_noise(rng, B, 9, S, S))[:, None]
    body = _soft(np.minimum(0.5 - np.abs(X), 0.32 - np.abs(Y + 0.3)), S)
    legs = np.zeros_like(body)
    for lx in (-0.32, 0.0, 0.32):
        legs = np.maximum(legs, _soft(np.minimum(0.06 - np.abs(X - lx), np.minimum(Y - 0.0, 0.85 - Y)), S))
    img = _mix(board, np.array([0.75, 0.75, 0.72])[None, :, None, None], legs)
    img = _mix(img, np.full((B, 3, 1, 1), 0.1), body)
    obj = np.maximum(body, legs)
    return img, obj >= 0.5


def _zipper(rng, B, S):
    y, x = _pixels(S)
    X, Y = _frame(rng, B, S, shift=1.5, turn=0.03)
    fabric = 0.25 + 0.08 * _tri(x / 2.0) * _tri(y / 2.0) + 0.05 * smooth_noise(rng, B, 15, S, S)
    img = _rgb(_jitter(rng, B, (0.3, 0.3, 0.32), 0.04), fabric / 0.3)
    period = 0.16
    row = np.mod(Y / period + col(rng.random(B)), 1.0)
    teeth = ((row < 0.5) & (X > -0.22) & (X < 0.06)) | ((row >= 0.5) & (X > -0.06) & (X < 0.22))
    img = _mix(img, _jitter(rng, B, (0.78, 0.78, 0.8), 0.04)[:, :, None, None], teeth * 1.0)
    return img, np.ones((B, S, S), bool)


_RENDER = {
    "carpet": _carpet, "grid": _grid, "leather": _leather, "tile": _tile, "wood": _wood,
    "bottle": _bottle, "cable": _cable, "capsule": _capsule, "hazelnut": _hazelnut, "metal_nut": _metal_nut,
    "pill": _pill, "screw": _screw, "toothbrush": _toothbrush, "transistor": _transistor, "zipper": _zipper,
}


def _normal(rng, B, S, category):
    img, fg = _RENDER[category](rng, B, S)
    img = img + col(uniform(rng, -0.04, 0.04, B))[:, None] + 0.015 * noise(rng, (B, 3, S, S))
    return img, fg


# ------------------------------------------------------------------------------------ defects
def _sample_in(rng, fg: np.ndarray, margin: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """A random (y, x) pixel centre per image inside ``fg`` (and away from the border when possible)."""
    B, S, _ = fg.shape
    inner = fg.copy()
    inner[:, :margin] = inner[:, -margin:] = False
    inner[:, :, :margin] = inner[:, :, -margin:] = False
    use = np.where(inner.reshape(B, -1).any(axis=1)[:, None], inner.reshape(B, -1), fg.reshape(B, -1))
    count = use.sum(axis=1)
    k = np.floor(rng.random(B) * count).astype(np.int64)
    order = np.argsort(~use, axis=1, kind="stable")
    flat = order[np.arange(B), np.minimum(k, np.maximum(count - 1, 0))]
    return flat // S + 0.5, flat % S + 0.5


def _segment_cover(x, y, x0, y0, x1, y1, half_w):
    dx, dy = x1 - x0, y1 - y0
    t = np.clip(((x - x0) * dx + (y - y0) * dy) / (dx * dx + dy * dy), 0.0, 1.0)
    ex, ey = x - x0 - t * dx, y - y0 - t * dy
    return np.clip(half_w - np.sqrt(ex * ex + ey * ey) + 0.5, 0.0, 1.0)


def _defect_once(rng, img: np.ndarray, fg: np.ndarray, kinds: np.ndarray):
    """One attempt at planting a defect of kind ``kinds[i]`` on each image."""
    B, _, S, _ = img.shape
    y, x = _pixels(S)
    cy, cx = _sample_in(rng, fg)
    cy, cx = col(cy), col(cx)
    fgf = fg.astype(np.float64)
    K = {name: col(kinds == i) for i, name in enumerate(DEFECTS)}
    c, s = rotation(rng, B, None)
    c, s = col(c), col(s)
    # scratch: a thin line through the centre
    half = col(uniform(rng, 0.12, 0.22, B) * S)
    scratch = _segment_cover(x, y, cx - half * c, cy - half * s, cx + half * c, cy + half * s, col(uniform(rng, 0.55, 0.8, B)))
    # dark marks on light surfaces, light marks on dark ones
    centre = (cy.astype(np.int64) * S + cx.astype(np.int64)).reshape(B, 1)
    lum = np.take_along_axis(img.mean(axis=1).reshape(B, -1), centre, axis=1)
    dark = col(lum[:, 0] > 0.4)
    mark = np.where(dark, 0.05, 0.85)[:, None]
    scratch_col = np.where(col(rng.random(B) < 0.5), 0.95, 0.08)[:, None]
    scratch_col = np.where(dark[:, None], scratch_col, 0.92)
    # hole: a dark pit with a lighter rim
    rh = col(uniform(rng, 0.04, 0.07, B) * S)
    dist = np.sqrt((x - cx) ** 2 + (y - cy) ** 2)
    hole = np.clip(rh - dist + 0.5, 0.0, 1.0)
    rim = np.clip(1.0 - np.abs(dist - rh - 0.8) / 0.9, 0.0, 1.0) * (1.0 - hole)
    # stain: a soft irregular discoloured blotch
    rs = col(uniform(rng, 0.07, 0.12, B) * S)
    ox, oy = col(uniform(rng, -0.5, 0.5, B)) * rs, col(uniform(rng, -0.5, 0.5, B)) * rs
    field = np.maximum(bump(((x - cx) ** 2 + (y - cy) ** 2) / rs**2),
                       bump(((x - cx - ox) ** 2 + (y - cy - oy) ** 2) / (0.7 * rs) ** 2))
    stain = np.clip(field * 1.6, 0.0, 1.0) * col(uniform(rng, 0.55, 0.75, B))
    stain_col = img.mean(axis=(2, 3)) * uniform(rng, 0.35, 0.6, (B, 1)) + np.array([[0.12, 0.06, 0.0]])
    stain_col = np.clip(stain_col, 0, 1)[:, :, None, None]
    # crack: a dark jagged polyline of 5 segments
    crack = np.zeros((B, S, S))
    px, py = cx, cy
    step = col(uniform(rng, 0.05, 0.08, B) * S)
    for _ in range(5):
        jc, js = rotation(rng, B, 0.8)
        dxs, dys = c * col(jc) - s * col(js), s * col(jc) + c * col(js)
        nx, ny = px + step * dxs, py + step * dys
        crack = np.maximum(crack, _segment_cover(x, y, px, py, nx, ny, 0.55))
        px, py = nx, ny
    # colour spot: a small spot of a saturated foreign colour
    rc = col(uniform(rng, 0.035, 0.055, B) * S)
    spot = np.clip(rc - dist + 0.5, 0.0, 1.0)
    hue = rng.integers(0, 3, B)
    spot_col = np.eye(3)[hue] * 0.85 + 0.1

    cover = (K["scratch"] * scratch + K["hole"] * hole + K["stain"] * stain + K["crack"] * crack + K["color_spot"] * spot) * fgf
    colour = (K["scratch"][:, None] * scratch_col + K["hole"][:, None] * mark + K["stain"][:, None] * stain_col
              + K["crack"][:, None] * mark + K["color_spot"][:, None] * spot_col[:, :, None, None])
    out = _mix(img, colour * np.ones_like(img), cover)
    out = out + (K["hole"] * rim * fgf * np.where(dark, 0.25, -0.25))[:, None]
    mask = cover >= np.where(K["stain"], 0.3, 0.5)
    return out, mask


MIN_DEFECT_PIXELS = 8


def _defects(rng, img: np.ndarray, fg: np.ndarray, kinds: np.ndarray, attempts: int = 8):
    """Plant one defect of kind ``kinds[i]`` (index into DEFECTS) on each image; returns (img, masks).

    A defect that ends mostly off the object (fewer than MIN_DEFECT_PIXELS mask pixels) is
    drawn again, up to ``attempts`` times; the largest attempt is kept otherwise.
    """
    best, best_mask = None, None
    for _ in range(attempts):
        out, mask = _defect_once(rng, img, fg, kinds)
        if best is None:
            best, best_mask = out, mask
        else:
            better = (best_mask.sum(axis=(1, 2)) < MIN_DEFECT_PIXELS) & (mask.sum(axis=(1, 2)) > best_mask.sum(axis=(1, 2)))
            best = np.where(better[:, None, None, None], out, best)
            best_mask = np.where(better[:, None, None], mask, best_mask)
    return best, best_mask


def _category(seed: int, ci: int, category: str, n_train: int, n_good: int, n_bad: int):
    S = SIZE
    train, _ = _normal(stream(seed, ci, 0), n_train, S, category)
    rng = stream(seed, ci, 1)
    test, fg = _normal(rng, n_good + n_bad, S, category)
    kinds = np.concatenate([np.full(n_good, -1), np.arange(n_bad) % len(DEFECTS)]).astype(np.int8)
    bad, mask = _defects(stream(seed, ci, 2), test[n_good:], fg[n_good:], kinds[n_good:])
    test = np.concatenate([test[:n_good], bad])
    masks = np.concatenate([np.zeros((n_good, S, S), bool), mask])
    order = permutation(stream(seed, ci, 3), len(kinds))
    return {
        "train": {"images": to_uint8(train)},
        "test": {
            "images": to_uint8(test)[order],
            "labels": (kinds >= 0).astype(np.uint8)[order],
            "masks": masks[order],
            "defects": kinds[order],
        },
    }


def generate(out_dir: Path, seed: int = 0, n: int | None = None) -> Path:
    """Write ``<category>/train/images.npy`` and ``<category>/test/{images,labels,masks,defects}.npy``.

    ``n`` (for tests) sets the training images per category; the test set scales with it
    (n / 4 normal, 3 n / 8 defective, at least one defect of each kind).
    """
    out_dir = Path(out_dir)
    if n is None:
        n_train, n_good, n_bad = N_TRAIN, N_TEST_GOOD, N_TEST_BAD
    else:
        n_train, n_good, n_bad = int(n), max(1, round(n / 4)), max(len(DEFECTS), round(3 * n / 8))
    with atomic_dir(out_dir) as tmp:
        for ci, category in enumerate(CATEGORIES):
            for split, arrays in _category(seed, ci, category, n_train, n_good, n_bad).items():
                for key, arr in arrays.items():
                    save(tmp / category / split, key, arr)
        finish(tmp, {
            "name": NAME, "kind": "embedded", "generator": f"attriflow.data.embedded.textures v{VERSION}", "version": VERSION,
            "seed": int(seed), "image_size": SIZE, "categories": list(CATEGORIES),
            "category_kind": {c: ("texture" if c in TEXTURES else "object") for c in CATEGORIES},
            "defects": list(DEFECTS),
            "splits": {"train": {"normal": n_train}, "test": {"normal": n_good, "defective": n_bad}},
            "files": {
                "train/images": "uint8 (N, 3, 64, 64), normal only",
                "test/images": "uint8 (N, 3, 64, 64)",
                "test/labels": "uint8 (N,), 0 normal, 1 defective",
                "test/masks": "bool (N, 64, 64), defect pixels",
                "test/defects": "int8 (N,), index into defects, -1 normal",
            },
        })
    return out_dir
