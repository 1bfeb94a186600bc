"""The pathways / prunegrad report builders: claims decided from the numbers (both directions),
published numbers beside ours from published.yaml, and every promised file written."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest

from attriflow.reporting.papers import pathways, prunegrad
from attriflow.reporting.papers.claims import COLUMNS, verdict
from attriflow.reporting.published import published


def write_inputs(tmp_path, mct_change: float, random_change: float) -> dict:
    rng = np.random.default_rng(0)
    rows = []
    for selector, level in (("mct", mct_change), ("intgrad", mct_change), ("random", random_change)):
        for i in range(12):
            rows.append({"selector": selector, "image": i, "kept_fraction": 0.1, "rel_change": level * (1 + 0.1 * rng.standard_normal()),
                         "same_prediction": True, "label": i % 3, "target": i % 3, "dead_fraction": 0.7,
                         "run": "net", "dataset": "shapes64", "model": "small_vgg", "sparsity": 90.0, "scale": "demo", "seed": 0})
    (tmp_path / "net").mkdir()
    pd.DataFrame(rows).to_csv(tmp_path / "net" / "response.csv", index=False)
    a, b = np.triu_indices(12, k=1)
    same = (a % 3) == (b % 3)
    ov = pd.DataFrame({"selector": "mct", "image_a": a, "image_b": b, "same_class": same,
                       "jaccard": np.where(same, 0.6, 0.2) + 0.01 * rng.standard_normal(len(a)), "run": "net"})
    ov.to_csv(tmp_path / "net" / "overlap.csv", index=False)
    roar = []  # two seeds, 0.02 below and above the planted accuracy
    for method, acc in (("prune_grad", [0.9, 0.5, 0.3]), ("gradient", [0.9, 0.8, 0.7])):
        for (f, v), (seed, noise) in itertools.product(zip((0, 10, 90), acc), ((0, -0.02), (1, 0.02))):
            d = tmp_path / "roar" / "net" / ("none" if f == 0 else method) / str(f) / f"seed{seed}"
            if f == 0 and method != "prune_grad":
                continue
            d.mkdir(parents=True)
            (d / "metrics.json").write_text(json.dumps({"test": {"accuracy": v + noise}, "dataset": "shapes32", "seed": seed}))
            roar.append(str(d / "metrics.json"))
    pert = []
    d = tmp_path / "perturbation" / "net"
    d.mkdir(parents=True)
    for method, level in (("prune_grad", 0.05), ("gradient", 0.5)):
        df = pd.DataFrame([{"image": i, "method": method, "order": "lerf", "fraction": f / 100, "removed": f,
                            "p_original": 0.9, "p": 0.9, "rel_change": level * f / 10 * (1 + 0.05 * rng.standard_normal())}
                           for i in range(10) for f in range(1, 11)])
        df.to_csv(d / f"{method}.csv", index=False)
        pert.append(str(d / f"{method}.csv"))
    return {"response": [str(tmp_path / "net" / "response.csv")], "overlap": [str(tmp_path / "net" / "overlap.csv")],
            "roar": roar, "perturbation": pert}


def claims_of(out):
    df = pd.read_csv(out / "tables" / "claims.csv")
    assert list(df.columns) == COLUMNS
    return df


@pytest.mark.parametrize("mct, rnd, expected", [(0.01, 0.5, "yes"), (0.5, 0.01, "no")])
def test_pathways_claims_follow_the_numbers(tmp_path, mct, rnd, expected):
    out = tmp_path / "reports"
    pathways.build_report(write_inputs(tmp_path, mct, rnd), out, scale="demo")
    df = claims_of(out)
    row = df[df["claim"].str.contains("better than random pruning")].iloc[0]
    assert row["holds"] == expected
    resp = pd.read_csv(tmp_path / "net" / "response.csv")
    means = [resp.loc[resp["selector"] == s, "rel_change"].mean() for s in ("mct", "random")]
    assert row["ours"] == f"{means[0]:.3g} vs {means[1]:.3g}"  # the computed means, nothing else
    assert df[df["claim"].str.contains("same class overlap")].iloc[0]["holds"] == "yes"
    assert df[df["claim"].str.contains("more than half")].iloc[0]["holds"] == "yes"
    summary = (out / "summary.md").read_text()
    assert row["ours"] in summary and "Scale: **demo**" in summary
    for name in ("pathway_statistics", "roar", "pixel_perturbation", "claims"):
        assert (out / "tables" / f"{name}.csv").exists() and (out / "tables" / f"{name}.md").exists()
    for name in ("pathway_statistics", "roar", "pixel_perturbation"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 10_000


def test_prunegrad_tables_put_the_published_numbers_beside_ours(tmp_path):
    out = tmp_path / "reports"
    prunegrad.build_report(write_inputs(tmp_path, 0.01, 0.5), out, scale="demo")
    pub = published()["prunegrad"]
    roar = pd.read_csv(out / "tables" / "roar.csv")
    assert list(roar.columns) == ["method", "fraction", "accuracy", "accuracy_ci95", "n_seeds", "published_accuracy",
                                  "scale", "dataset", "seeds", "run"]
    r = roar[(roar["method"] == "prune_grad") & (roar["fraction"] == 10)].iloc[0]
    # mean of 48 and 52 over two seeds; 95% t-interval half-width t(0.975, 1) * sd / sqrt(2) = 12.706 * 2
    assert r["accuracy"] == pytest.approx(50.0) and r["n_seeds"] == 2 and r["seeds"] == "0 1"
    assert r["accuracy_ci95"] == pytest.approx(12.7062 * 2.0, rel=1e-4) and r["published_accuracy"] == pub["roar_accuracy"]["methods"]["prune_grad"][0]
    assert roar[(roar["method"] == "prune_grad") & (roar["fraction"] == 90)].iloc[0]["published_accuracy"] == \
        pub["roar_accuracy"]["methods"]["prune_grad"][-1]
    assert pd.isna(roar[(roar["method"] == "prune_grad") & (roar["fraction"] == 0)].iloc[0]["published_accuracy"])
    pert = pd.read_csv(out / "tables" / "pixel_perturbation.csv")
    assert list(pert.columns[:5]) == ["method", "fraction", "mean_rel_change", "published", "scale"]
    at10 = pert[(pert["method"] == "gradient") & (pert["fraction"] == 10)].iloc[0]
    assert at10["published"] == 0.599 and pert[pert["fraction"] < 10]["published"].isna().all()
    claims = claims_of(out)
    roar_claim = claims[claims["claim"].str.contains("ROAR: prune_grad removes more class information than gradient")].iloc[0]
    assert roar_claim["holds"] == "yes" and roar_claim["source"] == pub["roar_accuracy"]["source"]
    assert claims[claims["claim"].str.contains("LeRF 10%")].iloc[0]["holds"] == "yes"


def test_verdict_needs_a_difference_beyond_the_noise():
    assert verdict(1.0, 0.1, 2.0, 0.1) == "yes"
    assert verdict(2.0, 0.1, 1.0, 0.1) == "no"
    assert verdict(1.0, 0.5, 1.2, 0.5) == "not at this scale"
