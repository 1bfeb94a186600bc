"""One-class experiments on small generated data, and the mkd report built from their results."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from attriflow.anomaly.experiment import run_dataset, settings_of
from attriflow.data.embedded import GENERATORS
from attriflow.errors import UserError
from attriflow.models.runs import save_model_file
from attriflow.models.vgg import vgg16_narrow

LOC = {"methods": {"gradient": {}, "ig": {"method": "integrated_gradients", "steps": 2}}, "examples": 1}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("mkd")
    GENERATORS["digits"](root / "data" / "digits", seed=0, n=200)
    GENERATORS["textures"](root / "data" / "textures", seed=0, n=8)
    expert = vgg16_narrow(num_classes=10, width=0.125)
    save_model_file(root / "expert" / "model.pt", expert, {
        "model": {"name": "vgg16_narrow", "num_classes": 10, "in_chans": 3, "kwargs": {}},
        "task": "multiclass", "class_names": [str(i) for i in range(10)], "input_size": [32, 32], "epoch": 1,
        "run": {"dataset": "shapes32"}})
    digits = {"view": "digits", "kind": "one_class", "classes": ["0", "7"], "epochs": 2, "eval_every": 1, "train_limit": 9}
    textures = {"view": "textures", "kind": "defects", "classes": ["carpet", "screw"], "epochs": 2, "eval_every": 1,
                "localisation": LOC, "loss": {"lam": 0.5}}
    out = {}
    for name, entry in (("digits", digits), ("textures", textures)):
        out[name] = root / "results" / name / "main"
        run_dataset(name, entry, str(root / "expert"), out[name], root=root / "data", scale="smoke")
    out["digits_seed1"] = root / "results" / "digits" / "main-seed1"  # a second repeat of the main loss
    run_dataset("digits", digits, str(root / "expert"), out["digits_seed1"], seed=1, baseline=False, root=root / "data",
                scale="smoke")
    out["ablation"] = root / "results" / "digits" / "last_layer"
    run_dataset("digits", digits, str(root / "expert"), out["ablation"], variant="last_layer",
                overrides={"stages": [5]}, baseline=False, localise_maps=False, root=root / "data", scale="smoke")
    return root, out


def test_results_cover_every_problem_protocol_and_method(setup):
    _, out = setup
    det = pd.read_csv(out["digits"] / "detection.csv", dtype={"class": str})
    assert set(det["class"]) == {"0", "7"} and set(det["method"]) == {"mkd", "knn2"}
    assert set(det["protocol"]) == {"paper", "corrected"} and det["auroc"].between(0, 1).all()
    # the paper protocol picks the best test AUROC seen, so it is never below the final epoch's
    mkd = det[det["method"] == "mkd"].pivot(index="class", columns="protocol", values="auroc")
    assert (mkd["paper"] >= mkd["corrected"]).all()
    prov = json.loads((out["digits"] / "provenance.json").read_text())
    assert prov["settings"]["train_limit"] == 9 and prov["loss"]["lambda_on"] == "val"
    assert (det["n_train"] == 9).all() and (det["n_test"] == 50).all()  # the limit counts per normal class
    hist = pd.read_csv(out["digits"] / "history.csv")
    assert "test_auroc" in hist and len(hist) == 4
    loc = pd.read_csv(out["textures"] / "localization.csv")
    assert set(loc["method"]) == {"gradient", "ig"} and set(loc["category"]) == {"carpet", "screw"}
    with np.load(out["textures"] / "examples.npz") as z:
        assert z["images"].shape[0] == 2 and z["map_gradient"].shape == (2, 32, 32) and z["masks"].any(axis=(1, 2)).all()
    abl = pd.read_csv(out["ablation"] / "detection.csv")
    assert set(abl["method"]) == {"mkd"} and set(abl["stages"].astype(str)) == {"5"}


def test_report_writes_every_table_figure_and_claims(setup):
    from attriflow.reporting.papers.mkd import build_report

    root, out = setup
    lines = build_report([out["digits"], out["digits_seed1"], out["textures"]], [out["ablation"]], root / "reports",
                         scale="smoke", seed=0)
    for name in ("detection", "localization", "ablation", "claims"):
        assert (root / "reports" / "tables" / f"{name}.csv").is_file() and (root / "reports" / "tables" / f"{name}.md").is_file()
    for name in ("detection_auroc", "score_histograms", "roc_curves", "localization_maps"):
        assert (root / "reports" / "figures" / f"{name}.png").stat().st_size > 5000
    det = pd.read_csv(root / "reports" / "tables" / "detection.csv", dtype={"class": str})
    assert list(det.columns) == ["dataset", "class", "method", "protocol", "auroc", "auroc_ci95", "n_seeds",
                                 "published_auroc", "source", "scale", "seeds"]
    mean = det[(det["dataset"] == "textures") & (det["class"] == "mean") & (det["method"] == "mkd")]
    assert (mean["published_auroc"] == 87.74).all() and mean["source"].str.contains("stand-in").all()
    assert (mean["n_seeds"] == 1).all() and mean["auroc_ci95"].isna().all()  # one seed: no interval, not a zero
    # digits: two seeds; the mean row is the mean over seeds of each seed's mean over classes, with its t-interval
    raw = pd.concat([pd.read_csv(out[k] / "detection.csv", dtype={"class": str}) for k in ("digits", "digits_seed1")])
    raw = raw[(raw["method"] == "mkd") & (raw["protocol"] == "corrected")]
    per_seed = 100 * raw.groupby("seed")["auroc"].mean()
    row = det[(det["dataset"] == "digits") & (det["class"] == "mean") & (det["method"] == "mkd")
              & (det["protocol"] == "corrected")].iloc[0]
    assert row["n_seeds"] == 2 and row["seeds"] == "0 1" and np.isclose(row["auroc"], per_seed.mean())
    assert np.isclose(row["auroc_ci95"], 12.7062 * per_seed.std(ddof=1) / np.sqrt(2), rtol=1e-4)
    per_class = det[(det["dataset"] == "digits") & (det["class"] != "mean") & (det["method"] == "mkd") & (det["protocol"] == "corrected")]
    assert np.isclose(row["auroc"], per_class["auroc"].mean())
    claims = pd.read_csv(root / "reports" / "tables" / "claims.csv")
    assert list(claims.columns) == ["paper", "claim", "measure", "ours", "published", "source", "holds", "scale"]
    assert set(claims["holds"]) <= {"yes", "no", "not at this scale"}
    summary = (root / "reports" / "summary.md").read_text()
    assert "digits" in summary and "textures" in summary and any("mean AUROC on digits" in s for s in lines)


def test_settings_are_checked():
    with pytest.raises(UserError, match="unknown MKD dataset settings"):
        settings_of({"view": "digits", "kind": "one_class", "epoch": 3})
    with pytest.raises(UserError, match="kind"):
        settings_of({"view": "digits", "kind": "defect"})
    with pytest.raises(UserError, match="protocols"):
        settings_of({"view": "digits", "kind": "one_class", "protocols": ["best"]})
    with pytest.raises(UserError, match="lambda_on"):
        settings_of({"view": "digits", "kind": "one_class"}, {"lambda_on": "x"})


def test_problems_decode_a_streamed_real_view_one_problem_at_a_time(tmp_path):
    """The paper-scale views (MNIST's idx files, MVTec AD's folders) are streamed sets: each problem
    gets its normal training images and the shared test set decoded, with labels and masks."""
    from attriflow.anomaly.experiment import problems
    from tests.data import miniatures

    miniatures.mnist_like(tmp_path / "mnist", "MNIST", n_train=30, n_test=20)
    miniatures.mvtec(tmp_path / "mvtec-ad", categories=("bottle",))
    one_class = settings_of({"view": "mnist", "kind": "one_class", "classes": ["3", "7"], "image_size": 16,
                             "train_limit": 2})
    got = list(problems(one_class, tmp_path))
    assert [p.name for p in got] == ["3", "7"]
    for p in got:
        assert p.train.shape == (2, 1, 16, 16) and p.test.shape == (20, 1, 16, 16)
        assert p.labels.sum() == 18  # the other nine digits' two test images each are anomalous
    defects = settings_of({"view": "mvtec-ad", "kind": "defects", "classes": ["bottle"], "image_size": 16})
    (bottle,) = problems(defects, tmp_path)
    assert bottle.train.shape[0] == 4 and bottle.labels.tolist().count(1) == 4 and bottle.masks.shape == (6, 16, 16)
    assert bottle.masks[bottle.labels == 1].any(axis=(1, 2)).all() and not bottle.masks[bottle.labels == 0].any()
