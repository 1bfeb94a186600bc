"""cxr-phantoms: reproducible bytes, masks that match the pixels, labels, BrixIA zones, learnability."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from attriflow.data.embedded import _common as C, cxr

from .conftest import digest

N = 480  # main images (train 336 / val 48 / test 96) plus a probe split of 40


@pytest.fixture(scope="module")
def ds(tmp_path_factory) -> Path:
    return cxr.generate(tmp_path_factory.mktemp("cxr") / "cxr-phantoms", seed=0, n=N)


@pytest.fixture(scope="module")
def train(ds):
    a = {p.stem: np.load(p, allow_pickle=False) for p in (ds / "train").glob("*.npy")}
    a["m"] = cxr.unpack_masks(a["masks"])
    return a


def plane(a, name):
    return a["m"][:, cxr.CONCEPTS.index(name)]


def label(a, name):
    return a["labels"][:, cxr.LABELS.index(name)].astype(bool)


def test_same_seed_same_bytes_other_seed_other_bytes(ds, tmp_path):
    again = cxr.generate(tmp_path / "a" / "cxr-phantoms", seed=0, n=N)
    assert digest(again) == digest(ds)
    other = cxr.generate(tmp_path / "b" / "cxr-phantoms", seed=1, n=N)
    d0, d1 = digest(ds), digest(other)
    assert d0.keys() == d1.keys()
    assert d0["train/images.npy"] != d1["train/images.npy"]


def test_layout_and_dtypes(ds):
    meta = __import__("json").loads((ds / "meta.json").read_text())
    assert meta["splits"] == {"train": 336, "val": 48, "test": 96, "probe": 40}
    assert meta["labels"] == list(cxr.LABELS) and len(meta["labels"]) == 14
    assert meta["seed"] == 0 and meta["version"] == cxr.VERSION
    for split, n in meta["splits"].items():
        a = {p.stem: np.load(p, allow_pickle=False) for p in (ds / split).glob("*.npy")}
        assert a["images"].shape == (n, 1, 64, 64) and a["images"].dtype == np.uint8
        assert a["labels"].shape == (n, 14) and a["labels"].dtype == np.uint8
        assert a["zones"].shape == (n, 6) and a["zones"].max() <= 3
        assert a["masks"].shape == (n, 64, 64) and a["masks"].dtype == np.uint16
        assert a["boxes"].shape == (n, len(cxr.CONCEPTS), 4)
    assert 8 <= len(cxr.CONCEPTS) <= 16


def test_mask_packing_round_trips():
    m = np.random.default_rng(0).random((3, len(cxr.CONCEPTS), 5, 5)) < 0.3
    assert np.array_equal(cxr.unpack_masks(cxr.pack_masks(m)), m)


def test_every_image_has_two_lungs_and_a_heart(train):
    for name in ("right_lung", "left_lung", "heart"):
        area = plane(train, name).sum(axis=(1, 2))
        assert area.min() > 60, name
    # the patient's right lung is on the image's left
    cols = np.arange(64)
    for name, side in (("right_lung", -1), ("left_lung", 1)):
        m = plane(train, name)
        centre = (m * cols).sum(axis=(1, 2)) / m.sum(axis=(1, 2))
        assert (np.sign(centre - 31.5) == side).all()


def test_parenchymal_masks_lie_in_the_lungs(train):
    lungs = plane(train, "right_lung") | plane(train, "left_lung")
    for name in ("ground_glass", "consolidation", "pneumonia", "nodule", "mass", "atelectasis", "edema", "pneumothorax"):
        assert not (plane(train, name) & ~lungs).any(), name


def test_labels_are_read_from_the_masks(train):
    pairs = {"Edema": ["edema"], "Consolidation": ["consolidation"], "Pneumonia": ["pneumonia"],
             "Atelectasis": ["atelectasis"], "Pneumothorax": ["pneumothorax"], "Pleural Effusion": ["effusion"],
             "Pleural Other": ["pleural_thickening"], "Fracture": ["fracture"], "Support Devices": ["support_device"],
             "Lung Lesion": ["nodule", "mass"]}
    for lab, planes in pairs.items():
        present = np.any([plane(train, p).any(axis=(1, 2)) for p in planes], axis=0)
        assert np.array_equal(label(train, lab), present), lab
    y = train["labels"].astype(bool)
    assert np.array_equal(y[:, 0], ~y[:, 1:13].any(axis=1))  # No Finding: none of the pathologies
    assert (~label(train, "Pneumonia") | label(train, "Lung Opacity")).all()
    assert (~label(train, "Consolidation") | label(train, "Lung Opacity")).all()
    assert (~label(train, "Cardiomegaly") | label(train, "Enlarged Cardiomediastinum")).all()


def test_boxes_match_masks(train):
    assert np.array_equal(train["boxes"], C.boxes_of(train["m"]))


def test_severity_zones_agree_with_mask_coverage(train):
    """Recompute the 6 BrixIA zones from the stored masks, with float fractions, independently."""
    opacity = plane(train, "ground_glass") | plane(train, "consolidation") | plane(train, "edema")
    for i in range(len(train["zones"])):
        scores = []
        for lung in (plane(train, "right_lung")[i], plane(train, "left_lung")[i]):
            rows = np.flatnonzero(lung.any(axis=1))
            y0, h = rows[0], rows[-1] - rows[0] + 1
            for t in range(3):
                band = np.zeros(64, bool)
                band[[r for r in range(64) if r >= y0 and min(2, (r - y0) * 3 // h) == t and r <= rows[-1]]] = True
                zone = lung & band[:, None]
                frac = (zone & opacity[i]).sum() / zone.sum()
                scores.append(sum(frac >= thr for thr in (0.05, 0.25, 0.50)))
        assert scores == train["zones"][i].tolist(), i
    severity = train["zones"].sum(axis=1)
    assert severity.max() >= 6 and (severity == 0).mean() < 0.8  # a spread, not all zeros
    # images with no opacity score 0 everywhere
    assert (severity[~opacity.any(axis=(1, 2))] == 0).all()


def intensity_contrast(a, name, healthy):
    """Mean pixel value inside each image's mask minus the same pixels' mean over healthy images."""
    imgs = a["images"][:, 0].astype(float)
    ref = imgs[healthy].mean(axis=0)
    m = plane(a, name)
    idx = np.flatnonzero(m.any(axis=(1, 2)))
    return np.array([imgs[i][m[i]].mean() - ref[m[i]].mean() for i in idx])


def test_pathologies_change_the_pixels_under_their_masks(train):
    healthy = label(train, "No Finding") & ~label(train, "Support Devices")
    assert healthy.sum() >= 30
    brighter = {"effusion": 40, "consolidation": 40, "mass": 40, "support_device": 40, "edema": 12, "ground_glass": 20,
                "nodule": 10, "atelectasis": 25, "pleural_thickening": 25}
    for name, minimum in brighter.items():
        d = intensity_contrast(train, name, healthy)
        assert len(d) >= 3, name
        assert np.median(d) > minimum, (name, np.median(d))
    # pneumothorax: darker than the normal lung it replaces (no vessels), on the same pixels
    d = intensity_contrast(train, "pneumothorax", healthy)
    assert len(d) >= 1 and np.median(d) < -10
    # cardiomegaly: a wider heart
    heart_width = plane(train, "heart").any(axis=1).sum(axis=1)
    assert heart_width[label(train, "Cardiomegaly")].mean() > heart_width[~label(train, "Cardiomegaly")].mean() + 6


def test_prevalence_and_correlations_of_the_latent_findings():
    f = cxr._findings(C.stream(0, 99), 20_000, enrich=False)
    nf = ~np.any([f[k] for k in f if k not in ("device", "bilateral_effusion")], axis=0)
    assert abs(nf.mean() - cxr.P_NO_FINDING) < 0.01
    pneumonia = f["lobar"] | f["viral"]
    consolidation = f["lobar"] | f["consolidation_solo"]
    assert consolidation[pneumonia].mean() > 3 * consolidation[~pneumonia].mean()
    assert f["effusion"][f["cardiomegaly"]].mean() > 2 * f["effusion"][~f["cardiomegaly"]].mean()
    assert f["edema"][f["cardiomegaly"]].mean() > 3 * f["edema"][~f["cardiomegaly"]].mean()
    # the probe split (dissection) is enriched: fewer normals, every rare finding more often
    g = cxr._findings(C.stream(0, 98), 20_000, enrich=True)
    for k in ("pneumothorax", "fracture", "mass", "pleural_thickening", "nodule"):
        assert g[k].mean() > 1.5 * f[k].mean(), k


def test_finding_imbalance_is_about_three_to_one(ds):
    y = np.concatenate([np.load(ds / s / "labels.npy") for s in ("train", "val", "test")])
    no_finding = y[:, 0].mean()
    assert 0.17 < no_finding < 0.32  # 0.24 expected (Finding : No Finding = 3.17 : 1) at n = 480


def test_a_linear_model_learns_cardiomegaly_and_effusion(train):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import cross_val_predict

    x = train["images"][:, 0].astype(float).reshape(-1, 16, 4, 16, 4).mean(axis=(2, 4)).reshape(len(train["images"]), -1) / 255
    for name in ("Cardiomegaly", "Pleural Effusion", "Support Devices"):
        y = label(train, name)
        score = cross_val_predict(LogisticRegression(C=1.0, max_iter=3000), x, y, cv=3, method="decision_function")
        assert roc_auc_score(y, score) > 0.8, name
