"""``cxr-phantoms``: chest X-ray phantoms with pathology masks, CheXpert labels and BrixIA zones.

The stand-in for CheXpert (14 labels), BrixIA (severity 0..18 from 6 lung zones scored 0..3),
the Finding / No Finding weak label (CheXpert + NIH) and the dissection concept sets (COVID-19
segmentations, NIH boxes). 64 x 64 grey images of a frontal chest: body, two lungs with vascular
texture and hila, heart (reaching into the image's right half, the patient's left), mediastinum
and spine, posterior ribs and clavicles, hemidiaphragms and a gastric bubble. Pose, size,
exposure, contrast, texture and noise vary per image.

Pathologies are drawn from latent causes so the labels are correlated as in life (heart failure
-> cardiomegaly, edema, effusion; infection -> pneumonia with lobar consolidation and a ground-glass
halo, or multifocal peripheral ground glass; effusion -> atelectasis; devices more often with
edema or pneumothorax), then rendered with a pixel mask each:

=================  ==========================================================================
concept            appearance
=================  ==========================================================================
ground_glass       soft haze over the lung, texture still visible (includes pneumonia halos)
consolidation      dense white opacity hiding the lung texture
pneumonia          the infection's consolidation plus halo, or its multifocal ground glass
effusion           white fluid at a lung base with a concave meniscus rising laterally
nodule / mass      small (2-3 px) / large (4-6 px) round dense lesions
pneumothorax       dark apical-lateral rim without lung texture, bright visceral pleural line
atelectasis        plate-like band at a lung base, with elevation of that hemidiaphragm
edema              bilateral perihilar (bat-wing) haze with interstitial texture
pleural_thickening bright band along the lateral chest wall
fracture           broken rib: a gap across the rib and a bright callus
support_device     endotracheal / nasogastric tube line, or a pacemaker box with its lead
=================  ==========================================================================

Labels are read back from the rendered masks (a finding whose mask ended empty, e.g. a nodule
hidden by an effusion, is not labelled), so every positive label is visible in the pixels.
No Finding = none of labels 1..12 (Support Devices may co-occur, as in CheXpert). About 24% of
the images are No Finding, so Finding : No Finding is about 3.17 : 1, the ratio whose inverse
weight the authors' weak-label training puts on the No Finding class (target 0).

Severity (BrixIA): each lung is cut into thirds of its own vertical extent (upper, middle,
lower); a zone scores 0..3 by the fraction of its lung pixels covered by ground glass,
consolidation or edema: < 5% -> 0, < 25% -> 1, < 50% -> 2, else 3. Zones are in BrixIA order
A..F: the patient's right lung (image left) upper, middle, lower, then the left lung.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from attriflow.data.embedded._common import (
    atomic_dir, blur, boxes_of, bump, col, finish, grid, noise, rotation, save, smooth_noise,
    split_sizes, stream, to_uint8, uniform,
)

NAME = "cxr-phantoms"
VERSION = 1
SIZE = 64
N_MAIN = 2400
N_PROBE = 200
FRACTIONS = {"train": 0.7, "val": 0.1, "test": 0.2}
SPLITS = ("train", "val", "test", "probe")
CHUNK = 128

LABELS = (
    "No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema",
    "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other",
    "Fracture", "Support Devices",
)
CONCEPTS = (
    "right_lung", "left_lung", "heart", "ground_glass", "consolidation", "pneumonia", "effusion", "nodule",
    "mass", "pneumothorax", "atelectasis", "edema", "pleural_thickening", "fracture", "support_device",
)
ZONES = ("right_upper", "right_middle", "right_lower", "left_upper", "left_middle", "left_lower")
ZONE_THRESHOLDS = (0.05, 0.25, 0.50)  # coverage fraction at which a zone reaches score 1, 2, 3
OPACITY_CONCEPTS = ("ground_glass", "consolidation", "edema")  # what severity zones count
P_NO_FINDING = 0.23
_C = {name: i for i, name in enumerate(CONCEPTS)}
_L = {name: i for i, name in enumerate(LABELS)}


# ----------------------------------------------------------------------------- latent findings
def _findings(rng: np.random.Generator, n: int, enrich: bool) -> dict[str, np.ndarray]:
    """Which pathologies each image carries (bool (n,) each), from correlated latent causes."""
    k = 2.0 if enrich else 1.0  # the probe set doubles the rare findings so every concept occurs
    r = lambda: rng.random(n)  # noqa: E731  (one fixed-size draw per call keeps the stream fixed)
    no_finding = r() < (0.08 if enrich else P_NO_FINDING)
    heart_failure = r() < 0.26
    infection = r() < 0.40
    viral = r() < 0.6
    f = {
        "cardiomegaly": (heart_failure & (r() < 0.75)) | (r() < 0.07 * k),
        "edema": (heart_failure & (r() < 0.55)) | (r() < 0.03 * k),
        "effusion": (heart_failure & (r() < 0.5)) | (infection & (r() < 0.15)) | (r() < 0.07 * k),
        "lobar": infection & ~viral,
        "viral": infection & viral,
        "consolidation_solo": r() < 0.06 * k,
        "ggo_solo": r() < 0.08 * k,
        "nodule": r() < 0.08 * k,
        "mass": r() < 0.045 * k,
        "pneumothorax": r() < 0.06 * k,
        "pleural_thickening": r() < 0.06 * k,
        "widened": r() < 0.05 * k,
    }
    f["atelectasis"] = (r() < 0.09 * k) | (f["effusion"] & (r() < 0.3))
    f["fracture"] = (r() < 0.06 * k) | (f["pneumothorax"] & (r() < 0.25))
    device = (r() < 0.16) | ((f["edema"] | f["pneumothorax"]) & (r() < 0.45))
    # a "finding" image with nothing drawn gets one pathology, chosen uniformly
    names = sorted(f)
    forced = rng.integers(0, len(names), n)
    none = ~np.any([f[name] for name in names], axis=0)
    for i, name in enumerate(names):
        f[name] = np.where(no_finding, False, f[name] | (none & (forced == i)))
    f["device"] = np.where(no_finding, r() < 0.1, device)
    f["bilateral_effusion"] = heart_failure & (r() < 0.6)
    return f


# ----------------------------------------------------------------------------------- rendering
def _segment_d2(a, V, ax, ay, bx, by):
    """Squared distance from points (a, V) to the segment (ax, ay)-(bx, by) (all broadcastable)."""
    dx, dy = bx - ax, by - ay
    t = np.clip(((a - ax) * dx + (V - ay) * dy) / (dx * dx + dy * dy), 0.0, 1.0)
    ex, ey = a - ax - t * dx, V - ay - t * dy
    return ex * ex + ey * ey


def _render(rng: np.random.Generator, f: dict[str, np.ndarray]):
    """Render one chunk; returns images uint8 (B, 64, 64) and bool masks (B, K, 64, 64)."""
    B = len(f["edema"])
    S = SIZE
    v, u = grid(S, S)
    P = lambda lo, hi: col(uniform(rng, lo, hi, B))  # noqa: E731
    side_draw = lambda: rng.integers(0, 2, B).astype(bool)[:, None, None]  # noqa: E731  True = patient's right
    F = {k: np.asarray(x, dtype=bool)[:, None, None] for k, x in f.items()}

    # pose: shift, anisotropic scale, a small rotation
    du, dv, sx, sy = P(-0.06, 0.06), P(-0.05, 0.05), P(0.92, 1.06), P(0.92, 1.06)
    c, s = rotation(rng, B, 0.06)
    c, s = col(c), col(s)
    U = (c * (u - du) + s * (v - dv)) / sx
    V = (-s * (u - du) + c * (v - dv)) / sy
    right = U < 0  # patient's right lung is on the image's left
    a = np.abs(U)

    # anatomy geometry
    atel_side = side_draw()
    d0_r = P(0.40, 0.47)
    d0_l = d0_r + P(0.02, 0.07)
    elev = P(0.05, 0.10) * F["atelectasis"]
    d0_r = d0_r - elev * atel_side
    d0_l = d0_l - elev * ~atel_side
    d0 = np.where(right, d0_r, d0_l)
    Vd = d0 + 0.9 * (a - 0.42) ** 2  # hemidiaphragm domes
    lcu, lru, lcv, lrv = P(0.41, 0.45), P(0.27, 0.31), P(0.0, 0.08), P(0.74, 0.82)
    q_lung = ((a - lcu) / lru) ** 2 + ((V - lcv) / lrv) ** 2
    wm = P(0.11, 0.15) + P(0.08, 0.12) * F["widened"] * (V < 0.15)
    med = (np.abs(U - 0.02) < wm) & (V > -0.95) & (V < 0.4)
    hu, hv = P(0.08, 0.14), P(0.28, 0.36)
    hru = np.where(F["cardiomegaly"], P(0.47, 0.58), P(0.33, 0.45))  # overlapping: borderline hearts exist
    hrv = hru * P(0.62, 0.72)
    heart = ((U - hu) / hru) ** 2 + ((V - hv) / hrv) ** 2 < 1.0
    bu, bv = (U / 0.96) ** 2, ((V - 0.12) / 1.12) ** 2
    body = bu * bu + bv * bv < 1.0  # a rounded-square torso (x^4 + y^4 < 1, by squaring: no pow())
    heart &= body
    lung = (q_lung < 1.0) & (V < Vd) & ~med & ~heart & (a > 0.1) & body
    pleural_space = (q_lung < 1.0) & (V < Vd + 0.12) & ~med & ~heart & (a > 0.1) & body

    # base attenuation (brighter = denser)
    air, soft = P(0.03, 0.08), P(0.50, 0.58)
    A = np.where(body, soft, air)
    tex = 0.6 * smooth_noise(rng, B, 9, S, S) + 0.4 * smooth_noise(rng, B, 21, S, S)
    lung_level = P(0.14, 0.22)
    vessels = P(0.04, 0.07) * (0.6 + 0.4 * tex) * (1.25 - a)
    hilum = 0.12 * bump(((a - 0.22) / 0.12) ** 2 + ((V - 0.02) / 0.17) ** 2)
    A_lung = lung_level + vessels + hilum
    heart_level, med_level = P(0.60, 0.68), P(0.58, 0.66)
    A = np.where(med & ~heart & body, med_level, A)
    A = np.where(heart, heart_level, A)
    bubble = (rng.random(B) < 0.5)[:, None, None] * bump(((U - 0.40) / 0.10) ** 2 + ((V - d0_l - 0.13) / 0.06) ** 2)
    A = A - 0.25 * bubble * body

    # ----- pathologies (fields are 0..1, masks bool); parenchymal ones are drawn later over the lung
    masks = np.zeros((B, len(CONCEPTS), S, S), dtype=bool)

    # effusion: fluid at the base with a concave meniscus rising laterally
    eff_side = side_draw()
    eff_on_r = F["effusion"] & (eff_side | F["bilateral_effusion"])
    eff_on_l = F["effusion"] & (~eff_side | F["bilateral_effusion"])
    h = np.where(right, P(0.12, 0.38), P(0.12, 0.38))
    Vm = (d0 - h) - 0.7 * h * ((a - 0.12) / 0.62) ** 2
    effusion = pleural_space & (V > Vm) & np.where(right, eff_on_r, eff_on_l)
    # pneumothorax: a rim between the chest wall and the collapsed lung's edge
    ptx_side = side_draw()
    k_in = P(0.62, 0.82)
    q_in = ((a - lcu + P(0.03, 0.07)) / (lru * k_in)) ** 2 + ((V - lcv - P(0.06, 0.12)) / (lrv * k_in)) ** 2
    ptx_here = F["pneumothorax"] & (right == ptx_side)
    ptx = lung & ~effusion & (q_in >= 1.0) & ptx_here
    pleural_line = lung & ~effusion & (q_in >= 0.80) & (q_in < 1.0) & ptx_here
    visible = lung & ~effusion & ~ptx

    # multifocal peripheral ground glass (viral pneumonia), up to 8 patches, some with dense cores
    n_patch = rng.integers(1, 9, B)[:, None, None]
    viral_ggo = np.zeros_like(A)
    viral_core = np.zeros(A.shape, dtype=bool)
    for j in range(8):
        pr = rng.integers(0, 2, B).astype(bool)[:, None, None]
        g = bump(((a - P(0.36, 0.64)) / P(0.12, 0.26)) ** 2 + ((V - P(-0.55, 0.35)) / P(0.14, 0.30)) ** 2)
        g = g * ((right == pr) & (j < n_patch) & F["viral"])
        viral_ggo = np.maximum(viral_ggo, g)
        viral_core |= (g > 0.55) & (rng.random(B) < 0.3)[:, None, None]
    # lobar consolidation with a ground-glass halo (bacterial pneumonia)
    lob_side = side_draw()
    lob = bump(((a - P(0.34, 0.52)) / P(0.16, 0.26)) ** 2 + ((V - P(-0.35, 0.30)) / P(0.18, 0.30)) ** 2)
    lob = lob * ((right == lob_side) & F["lobar"])
    lob_core = (lob + 0.25 * tex) > 0.45
    lob_halo = lob > 0.12
    # non-infective opacities: a single ground-glass haze, a sharp dense blob
    gs = side_draw()
    ggo_solo = bump(((a - P(0.30, 0.55)) / P(0.12, 0.22)) ** 2 + ((V - P(-0.45, 0.30)) / P(0.15, 0.30)) ** 2)
    ggo_solo = ggo_solo * ((right == gs) & F["ggo_solo"])
    cs = side_draw()
    cons_solo = bump(((a - P(0.32, 0.55)) / P(0.08, 0.14)) ** 2 + ((V - P(-0.40, 0.25)) / P(0.08, 0.14)) ** 2)
    cons_solo = cons_solo * ((right == cs) & F["consolidation_solo"])
    # edema: bilateral perihilar haze with interstitial texture
    edema = bump(((a - 0.27) / P(0.26, 0.34)) ** 2 + ((V - 0.05) / P(0.34, 0.44)) ** 2) * F["edema"]
    # nodule and mass
    ns = side_draw()
    q_nod = ((a - P(0.25, 0.60)) / P(0.05, 0.08)) ** 2 + ((V - P(-0.55, 0.25)) / P(0.05, 0.08)) ** 2
    nodule = (q_nod < 1.0) & (right == ns) & F["nodule"]
    ms = side_draw()
    ma, mv, mr = P(0.30, 0.55), P(-0.50, 0.20), P(0.12, 0.18)
    q_mass = np.minimum(((a - ma) ** 2 + (V - mv) ** 2) / mr**2,
                        ((a - ma - 0.5 * mr) ** 2 + (V - mv + 0.4 * mr) ** 2) / (0.7 * mr) ** 2)
    mass = (q_mass < 1.0) & (right == ms) & F["mass"]
    # atelectasis: plate-like band at the base of the side whose diaphragm was raised
    Vc = d0 - P(0.12, 0.25)
    atel = (np.abs(V - (Vc + P(-0.3, 0.3) * (a - 0.4))) < P(0.035, 0.06)) & (a > 0.18) & (a < 0.68)
    atel &= (right == atel_side) & F["atelectasis"]
    # pleural thickening along the lateral wall
    pt_side = side_draw()
    q_pt = ((a - lcu) / (lru - P(0.05, 0.08))) ** 2 + ((V - lcv) / (lrv - 0.02)) ** 2
    vt = P(-0.5, -0.1)
    pthick = lung & ~effusion & (q_pt >= 1.0) & (a > lcu) & (V > vt) & (V < vt + P(0.3, 0.5))
    pthick &= (right == pt_side) & F["pleural_thickening"]

    # draw the lung, then the parenchymal findings over the visible lung
    ggo_field = np.maximum(np.maximum(viral_ggo, ggo_solo), 0.6 * lob * lob_halo)
    ggo_mask = visible & (ggo_field > 0.3)
    cons_mask = visible & ((lob_core & (lob > 0)) | viral_core | (cons_solo > 0.25))
    edema_mask = visible & (edema > 0.3)
    A = np.where(lung, A_lung, A)
    inter = 0.5 + 0.5 * smooth_noise(rng, B, 31, S, S)
    A = A + visible * (P(0.16, 0.24) * ggo_field + P(0.12, 0.18) * edema * (0.7 + 0.3 * inter))
    A = np.where(cons_mask, np.maximum(A, soft - 0.02 + 0.03 * tex), A)
    A = A + visible * (P(0.22, 0.30) * bump(q_nod) * nodule + P(0.24, 0.32) * mass + 0.28 * atel + 0.28 * pthick)
    # pneumothorax: dark, no vessels, a visceral pleural line
    A = np.where(ptx, lung_level - 0.04, A) + 0.15 * pleural_line
    # effusion replaces everything under the meniscus
    A = np.where(effusion, np.maximum(A, soft - 0.03 + 0.06 * (V - Vm)), A)

    # bones: posterior ribs (with an optional fracture), spine, clavicles
    period, rib_off = P(0.16, 0.19), P(0.0, 1.0)
    ribs = (np.mod((V - 0.5 * a * a) / period - rib_off, 1.0) < 0.28) & (a > 0.12) & (V > -0.9) & (V < Vd + 0.05) & body
    fr_side = side_draw()
    af, vtarget = P(0.50, 0.66), P(-0.55, 0.10)
    ph = np.floor((vtarget - 0.5 * af * af) / period - rib_off)
    vf = (ph + rib_off + 0.14) * period + 0.5 * af * af
    fr_here = (right == fr_side) & F["fracture"]
    q_fr = ((a - af) ** 2 + (V - vf) ** 2) / 0.09**2
    gap = (np.abs(a - af) < 0.03) & (q_fr < 1.0) & fr_here
    callus = 0.22 * bump(((a - af - 0.04) ** 2 + (V - vf) ** 2) / 0.06**2) * fr_here
    fracture = (q_fr < 1.0) & fr_here & body
    rib_amp = P(0.07, 0.11)
    A = A + rib_amp * (ribs & ~gap) * np.where(lung, 1.0, 0.4) + callus
    spine = (np.abs(U - 0.02) < 0.07) & body
    discs = np.mod((V + 1.0) / 0.13 + P(0.0, 1.0), 1.0) < 0.2
    A = A + spine * (0.07 - 0.05 * discs)
    ca, cv = P(0.70, 0.78), P(-0.86, -0.78)
    clav = _segment_d2(a, V, 0.08, cv + P(0.06, 0.10), ca, cv) < 0.045**2
    A = A + 0.12 * clav * body

    # support devices: a tube down the midline, or a pacemaker with a lead to the heart
    tube_type = (rng.random(B) < 0.6)[:, None, None]
    xt = 0.02 + P(-0.04, 0.04) * (V + 1.0) ** 2
    tube = (np.abs(U - xt) < 0.04) & (V < P(-0.40, -0.15)) & tube_type
    px, py = np.where(col(rng.random(B) < 0.5), -1.0, 1.0) * P(0.50, 0.64), P(-0.72, -0.56)
    box = (np.abs(U - px) < 0.10) & (np.abs(V - py) < 0.07) & ~tube_type
    lead = (_segment_d2(U, V, px, py, hu, hv - 0.08) < 0.03**2) & ~tube_type
    device = (tube | box | lead) & F["device"]
    A = A + device * (0.45 * box + 0.38 * (tube | lead))

    # exposure: contrast, a gamma-like curve, a gradient; soften; quantum noise
    A = A * P(0.88, 1.12) + P(-0.05, 0.05) + P(-0.04, 0.04) * u + P(-0.03, 0.03) * v
    A = np.clip(A, 0.0, 1.0)
    A = A + P(-0.25, 0.25) * A * (1.0 - A)
    A = blur(A, 1) + P(0.012, 0.03) * noise(rng, (B, S, S))
    images = to_uint8(np.clip(A, 0.0, 1.0))

    masks[:, _C["right_lung"]] = lung & right
    masks[:, _C["left_lung"]] = lung & ~right
    masks[:, _C["heart"]] = heart
    masks[:, _C["ground_glass"]] = ggo_mask
    masks[:, _C["consolidation"]] = cons_mask
    masks[:, _C["pneumonia"]] = visible & (((lob > 0) & (lob_core | lob_halo)) | (viral_ggo > 0.3) | viral_core)
    masks[:, _C["effusion"]] = effusion
    masks[:, _C["nodule"]] = visible & nodule
    masks[:, _C["mass"]] = visible & mass
    masks[:, _C["pneumothorax"]] = ptx
    masks[:, _C["atelectasis"]] = visible & atel
    masks[:, _C["edema"]] = edema_mask
    masks[:, _C["pleural_thickening"]] = pthick
    masks[:, _C["fracture"]] = fracture
    masks[:, _C["support_device"]] = device
    return images, masks


def _labels(f: dict[str, np.ndarray], masks: np.ndarray) -> np.ndarray:
    """CheXpert labels (n, 14) uint8, read back from the rendered masks and the latent causes."""
    has = {name: masks[:, i].any(axis=(1, 2)) for name, i in _C.items()}
    y = np.zeros((len(masks), len(LABELS)), dtype=bool)
    y[:, _L["Cardiomegaly"]] = f["cardiomegaly"]
    y[:, _L["Enlarged Cardiomediastinum"]] = f["cardiomegaly"] | f["widened"]
    y[:, _L["Lung Lesion"]] = has["nodule"] | has["mass"]
    y[:, _L["Edema"]] = has["edema"]
    y[:, _L["Consolidation"]] = has["consolidation"]
    y[:, _L["Pneumonia"]] = has["pneumonia"]
    y[:, _L["Atelectasis"]] = has["atelectasis"]
    y[:, _L["Pneumothorax"]] = has["pneumothorax"]
    y[:, _L["Pleural Effusion"]] = has["effusion"]
    y[:, _L["Pleural Other"]] = has["pleural_thickening"]
    y[:, _L["Fracture"]] = has["fracture"]
    y[:, _L["Support Devices"]] = has["support_device"]
    y[:, _L["Lung Opacity"]] = (has["ground_glass"] | has["consolidation"] | has["edema"] | has["atelectasis"]
                                | y[:, _L["Lung Lesion"]] | has["pneumonia"])
    y[:, _L["No Finding"]] = ~y[:, 1:13].any(axis=1)
    return y.astype(np.uint8)


def zone_scores(right_lung: np.ndarray, left_lung: np.ndarray, opacity: np.ndarray) -> np.ndarray:
    """BrixIA zone scores (n, 6) uint8 from bool (n, H, W) lung masks and the opacity mask.

    Each lung is cut into thirds of its own row extent; a zone scores by the fraction of its
    pixels that are opaque, against :data:`ZONE_THRESHOLDS` (integer arithmetic, exact).
    """
    n, h, _ = opacity.shape
    rows = np.arange(h)[None, :]
    out = np.zeros((n, 6), dtype=np.uint8)
    for s, lung in enumerate((right_lung, left_lung)):
        present = lung.any(axis=2)  # (n, h)
        y0 = np.argmax(present, axis=1)[:, None]
        y1 = (h - 1 - np.argmax(present[:, ::-1], axis=1))[:, None]
        third = np.clip(((rows - y0) * 3) // np.maximum(y1 - y0 + 1, 1), 0, 2)  # (n, h)
        for t in range(3):
            zone = lung & (third == t)[:, :, None]
            total = zone.sum(axis=(1, 2)).astype(np.int64)
            covered = (zone & opacity).sum(axis=(1, 2)).astype(np.int64)
            score = np.zeros(n, dtype=np.uint8)
            for thr in ZONE_THRESHOLDS:  # covered / total >= thr, with thr = k / 100 exactly
                score += (covered * 100 >= round(thr * 100) * total) & (total > 0)
            out[:, 3 * s + t] = score
    return out


def _opacity(masks: np.ndarray) -> np.ndarray:
    return np.any([masks[:, _C[c]] for c in OPACITY_CONCEPTS], axis=0)


def pack_masks(masks: np.ndarray) -> np.ndarray:
    """bool (n, K, H, W) -> uint16 (n, H, W) with bit k set where concept k is present."""
    bits = (np.uint16(1) << np.arange(masks.shape[1], dtype=np.uint16))[None, :, None, None]
    return (masks.astype(np.uint16) * bits).sum(axis=1, dtype=np.uint16)


def unpack_masks(packed: np.ndarray, k: int = len(CONCEPTS)) -> np.ndarray:
    """uint16 (n, H, W) -> bool (n, K, H, W)."""
    bits = (np.uint16(1) << np.arange(k, dtype=np.uint16))[None, :, None, None]
    return (packed[:, None] & bits) != 0


def _make_split(seed: int, key: int, n: int, enrich: bool) -> dict[str, np.ndarray]:
    """Render n images chunk by chunk; masks are packed per chunk to keep memory small."""
    f = _findings(stream(seed, key, 0), n, enrich)
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("images", "labels", "zones", "masks", "boxes")}
    for i, start in enumerate(range(0, n, CHUNK)):
        part = {k: x[start:start + CHUNK] for k, x in f.items()}
        img, msk = _render(stream(seed, key, 1, i), part)
        out["images"].append(img[:, None])
        out["labels"].append(_labels(part, msk))
        out["zones"].append(zone_scores(msk[:, _C["right_lung"]], msk[:, _C["left_lung"]], _opacity(msk)))
        out["masks"].append(pack_masks(msk))
        out["boxes"].append(boxes_of(msk))
    return {k: np.concatenate(v) for k, v in out.items()}


def generate(out_dir: Path, seed: int = 0, n: int | None = None) -> Path:
    """Write the phantoms to ``out_dir`` (``n`` main images, default 2400, plus a probe split).

    Layout: ``<split>/{images,labels,zones,masks,boxes}.npy`` for split in train/val/test/probe,
    and ``meta.json`` (written last).
    """
    out_dir = Path(out_dir)
    n_main = N_MAIN if n is None else int(n)
    n_probe = N_PROBE if n is None else max(8, n_main // 12)
    sizes = {**split_sizes(n_main, FRACTIONS), "probe": n_probe}
    with atomic_dir(out_dir) as tmp:
        main = _make_split(seed, 1, n_main, enrich=False)
        probe = _make_split(seed, 2, n_probe, enrich=True)
        start = 0
        stats = {}
        for split in SPLITS:
            data = probe if split == "probe" else {k: x[start:start + sizes[split]] for k, x in main.items()}
            if split != "probe":
                start += sizes[split]
            for key, arr in data.items():
                save(tmp / split, key, arr)
            stats[split] = {
                "label_prevalence": {name: round(float(data["labels"][:, i].mean()), 4) for i, name in enumerate(LABELS)},
                "severity_histogram": np.bincount(data["zones"].sum(axis=1), minlength=19).tolist(),
            }
        finish(tmp, {
            "name": NAME, "kind": "embedded", "generator": f"attriflow.data.embedded.cxr v{VERSION}", "version": VERSION,
            "seed": int(seed), "image_size": SIZE, "channels": 1, "splits": sizes,
            "labels": list(LABELS), "concepts": list(CONCEPTS), "zones": list(ZONES),
            "zone_thresholds": list(ZONE_THRESHOLDS), "opacity_concepts": list(OPACITY_CONCEPTS),
            "files": {
                "images": "uint8 (N, 1, 64, 64)",
                "labels": "uint8 (N, 14), CheXpert order, 1 = present",
                "zones": "uint8 (N, 6), BrixIA zones A..F scored 0..3; severity = row sum 0..18",
                "masks": "uint16 (N, 64, 64), bit k = concept k",
                "boxes": "int16 (N, K, 4) y0, x0, y1, x1 inclusive, -1 where the concept is absent",
            },
            "weak_label": "Finding = 1 - No Finding; the authors weight the No Finding class (target 0) by 3.17",
            "stats": stats,
        })
    return out_dir
