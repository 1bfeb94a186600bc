"""positive-grad report: entries named in the paper's terms, tables and claims computed from the
evaluation files (a planted effect is found, its reverse refuted, no effect left undecided), and
the whole report built from real evaluation output of a small model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from attriflow.errors import UserError
from attriflow.reporting.papers import positive_grad as pg

ROOT = Path(__file__).resolve().parents[2]
CONFIG = yaml.safe_load((ROOT / "config/config.yaml").read_text())
ENTRIES = {e: CONFIG["attribution"]["methods"].get(e) for e in CONFIG["papers"]["positive-grad"]["methods"]}


def test_entries_are_described_in_the_papers_terms():
    v = {e: pg.describe(e, s) for e, s in ENTRIES.items()}
    expect = {
        "grad_cam": ("grad_cam", "signed", False), "grad_cam_positive": ("grad_cam", "positive", True),
        "grad_cam_pp": ("grad_cam_pp", "positive", True), "grad_cam_pp_signed": ("grad_cam_pp", "signed", False),
        "full_grad": ("full_grad", "absolute", True), "full_grad_signed": ("full_grad", "signed", False),
        "gradient": ("gradient", "signed", False), "guided_backprop": ("guided_backprop", "positive", True),
        "rectgrad": ("rectgrad", "signed a*g", True), "rectgrad_abs": ("rectgrad", "|a*g|", False),
        "lrp_epsilon": ("lrp_epsilon", "epsilon", False), "lrp_zplus": ("lrp_zplus", "z+", True),
        "lrp_alpha1beta0": ("lrp_alpha1beta0", "alpha1-beta0", True),
        "lrp_alpha2beta1": ("lrp_alpha2beta1", "alpha2-beta1", False),
    }
    for entry, (method, variant, positive) in expect.items():
        assert (v[entry].method, v[entry].variant, v[entry].positive) == (method, variant, positive), entry
    # every comparison pair of the paper is present in the demo entries
    present = {(x.method, x.variant) for x in v.values()}
    assert all(a in present and b in present for a, b in pg.PAIRS)
    with pytest.raises(UserError, match="not one of the paper's methods"):
        pg.describe("integrated_gradients")


def _planted(tmp_path: Path, shift: dict[str, float], n: int = 40) -> tuple[list[Path], list[Path]]:
    """Evaluation files whose SSIMs are planted: entry -> mean SSIM (noise sd 0.05)."""
    rng = np.random.default_rng(0)
    cs_paths, rd_paths = [], []
    common = rng.normal(0, 0.05, n)  # image effects shared by all methods
    for entry, mean in shift.items():
        rows = []
        for comparison in ("lowest", "random"):
            for measure in ("ssim", "ssim_abs"):
                values = mean + common + rng.normal(0, 0.05, n)
                rows.append(pd.DataFrame({"run": "m", "image": np.arange(n), "method": entry, "comparison": comparison,
                                          "target": 0, "other_class": 1, "measure": measure, "value": values}))
        p = tmp_path / "cs/m" / f"{entry}.csv"
        p.parent.mkdir(parents=True, exist_ok=True)
        pd.concat(rows).to_csv(p, index=False)
        cs_paths.append(p)
        rows = []
        for stage, layer in enumerate(["original", "fc", "layer4"]):
            value = 1.0 if stage == 0 else mean + common + rng.normal(0, 0.05, n)
            rows.append(pd.DataFrame({"run": "m", "image": np.arange(n), "method": entry, "order": "cascading",
                                      "stage": stage, "layer": layer, "target": 0, "measure": "ssim",
                                      "value": value}))
        p = tmp_path / "rd/m" / f"{entry}.csv"
        p.parent.mkdir(parents=True, exist_ok=True)
        pd.concat(rows).to_csv(p, index=False)
        rd_paths.append(p)
    return cs_paths, rd_paths


def test_planted_effects_are_found_refuted_or_left_undecided(tmp_path):
    planted = {
        "grad_cam_positive": 0.9, "grad_cam": 0.2,  # positive much more insensitive: yes
        "guided_backprop": 0.1, "gradient": 0.8,  # the reverse: no
        "lrp_zplus": 0.5, "lrp_epsilon": 0.5,  # no effect: not at this scale
    }
    cs, rd = _planted(tmp_path, planted)
    written = pg.build_report(cs, rd, {e: ENTRIES[e] for e in planted}, tmp_path / "out", scale="demo", threshold=0.6)
    claims = pd.read_csv(written["claims"])
    assert list(claims.columns[:8]) == ["paper", "claim", "measure", "ours", "published", "source", "holds", "scale"]

    def holds(method):
        rows = claims[claims["claim"].str.contains(f": {method} ")]
        assert len(rows) == 2  # class sensitivity and randomisation
        return set(rows["holds"])

    assert holds("grad_cam") == {"yes"}
    assert holds("guided_backprop") == {"no"}
    assert holds("lrp_zplus") == {"not at this scale"}
    row = claims[claims["claim"].str.startswith("class sensitivity: grad_cam")].iloc[0]
    assert row["ours"] == pytest.approx(0.7, abs=0.05)

    table = pd.read_csv(written["class_sensitivity"])
    assert list(table.columns) == ["method", "variant", "model", "target_kind", "signed", "mean_ssim", "std", "n"]
    assert set(table["signed"]) == {True, False} and set(table["target_kind"]) == {"lowest", "random"}
    gc = table[(table["method"] == "grad_cam") & (table["variant"] == "positive")]
    assert np.allclose(gc["mean_ssim"], 0.9, atol=0.05) and (gc["n"] == 40).all()
    rand = pd.read_csv(written["randomization"])
    assert {"method", "variant", "model", "stage", "measure", "value"} <= set(rand.columns)
    assert rand[rand["stage"] == 0]["value"].eq(1.0).all()

    summary = Path(written["summary"]).read_text()
    insensitive = summary.split("- Class-insensitive: ")[1].split("\n")[0]  # mean SSIM >= 0.6
    assert "grad_cam (positive, positive)" in insensitive and "gradient (signed)" in insensitive
    assert "guided_backprop" not in insensitive and "grad_cam (signed)" not in insensitive
    assert "2 hold, 2 go the other way, 2 cannot be told apart" in summary
    for key in ("ssim_boxplots", "randomization_curves"):
        assert Path(written[key]).stat().st_size > 10_000


def test_report_from_real_evaluations_of_a_small_model(tmp_path):
    """class_sensitivity and randomisation_test on a tiny VGG, written as the generic rule writes them."""
    from attriflow.evaluation import class_sensitivity, randomisation_test
    from attriflow.evaluation.explainers import method_explainer
    from attriflow.models import create_model

    torch.manual_seed(0)
    model = create_model("small_vgg", num_classes=4, drop_pools=[4]).eval()
    x = torch.rand(6, 3, 64, 64)
    entries = {e: ENTRIES[e] for e in ("gradient", "guided_backprop", "grad_cam", "grad_cam_positive")}
    cs_paths, rd_paths = [], []
    for entry, spec in entries.items():
        method, params = pg.entry_method(entry, spec)
        explainer = {entry: method_explainer(method, **params)}
        for kind, fn, paths in (("class_sensitivity", lambda: class_sensitivity(model, x, explainer, measures=["ssim", "ssim_abs"]), cs_paths),
                                ("randomisation", lambda: randomisation_test(model, x, None, explainer, measures=["ssim", "spearman"]), rd_paths)):
            path = tmp_path / kind / "tiny-vgg" / f"{entry}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            fn().to_csv(path, index=False)
            paths.append(path)
    written = pg.build_report(cs_paths, rd_paths, entries, tmp_path / "report", scale="smoke")
    table = pd.read_csv(written["class_sensitivity"])
    assert len(table) == 4 * 2 * 2 and (table["n"] == 6).all() and table["model"].eq("tiny-vgg").all()
    claims = pd.read_csv(written["claims"])
    assert len(claims) == 4  # (grad_cam, guided_backprop pairs) x (class sensitivity, randomisation)
    assert claims["holds"].isin(["yes", "no", "not at this scale"]).all()
    assert "## tiny-vgg" in Path(written["summary"]).read_text()
