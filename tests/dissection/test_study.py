"""The DenseNet output-stride option dissection relies on, and the semantic-cxr report's statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import binom

from attriflow.errors import UserError
from attriflow.models.registry import create_model
from attriflow.reporting.papers.semantic_cxr import init_kind, loss_label, poisson_binomial_sf, severity_table


def test_output_stride_8_gives_an_8x8_last_block_and_the_same_parameters():
    coarse = create_model("small_densenet", num_classes=3, in_chans=1)
    fine = create_model("small_densenet", num_classes=3, in_chans=1, output_stride=8)
    x = torch.rand(2, 1, 64, 64)
    assert coarse.features(x).shape[-2:] == (2, 2)
    assert fine.features(x).shape[-2:] == (8, 8) and fine.output_stride == 8
    # pooling has no parameters: the same state dict loads either way (pretrained weights transfer)
    fine.load_state_dict(coarse.state_dict())
    assert [k for k, _ in coarse.named_parameters()] == [k for k, _ in fine.named_parameters()]
    with pytest.raises(UserError, match="valid"):
        create_model("small_densenet", output_stride=2)


def test_poisson_binomial_tail_equals_the_binomial_for_equal_chances():
    p = np.full(30, 0.3)
    for hits in (0, 5, 9, 20, 30):
        assert poisson_binomial_sf(hits, p) == pytest.approx(binom.sf(hits - 1, 30, 0.3), rel=1e-9)


def test_run_settings_are_named_as_in_the_paper(tmp_path):
    assert init_kind({"init": "cxr-multilabel"}, {"cxr-multilabel": "chexpert"}) == "chexpert"
    assert init_kind({"init": "random"}, {}) == "random"
    assert loss_label({"task": "regression", "loss": {"weighted": True}}) == "weighted MSE"
    assert loss_label({"task": "binary", "loss": {"neg_weight": 3.17}}) == "weighted BCE"
    assert loss_label({"task": "binary"}) == "BCE"
    # the published MAE sits beside ours only for the same init and loss; others get their own row
    import json

    (tmp_path / "models" / "sev").mkdir(parents=True)
    (tmp_path / "models" / "sev" / "metrics.json").write_text(json.dumps({"test": {"mae": 1.5}}))
    cfg = {"scale": "demo", "dissection": {"runs": ["sev"]}, "study": {"severity": ["sev"], "inits": {"pre": "chexpert"}},
           "specs": {"sev": {"init": "pre", "task": "regression", "loss": {"weighted": True}, "dataset": "cxr-severity"}}}
    table = severity_table(cfg, tmp_path)
    ours = table[table["run"] == "sev"].iloc[0]
    assert ours["mae"] == 1.5 and ours["published_mae"] == 1.72
    assert set(table["published_mae"].dropna()) == {1.72, 1.81, 1.728}
    assert table[table["run"] != "sev"]["mae"].isna().all()


def _plant(results, rid, units, semantic=None, mae=None, concepts=("effusion", "heart")):
    """One repeat's dissection outputs (units: concept -> list of IoUs) and metrics."""
    import json

    import pandas as pd

    folder = results / "dissection" / rid / "features.relu5"
    folder.mkdir(parents=True)
    rows = [{"unit": i, "concept": c, "iou": v, "threshold": 1.0}
            for i, (c, v) in enumerate((c, v) for c, ious in units.items() for v in ious)]
    rows.append({"unit": len(rows), "concept": None, "iou": 0.01, "threshold": 1.0})
    pd.DataFrame(rows).to_csv(folder / "units.csv", index=False)
    (folder / "meta.json").write_text(json.dumps({"concepts": list(concepts), "map_size": [8, 8], "n_units": 48,
                                                  "n_images": 4, "mask_size": [32, 32]}))
    if semantic is not None:
        hits, chance = semantic
        pd.DataFrame({"image": range(len(hits)), "hit_pathology": hits, "chance_pathology": chance,
                      "hit_all": hits, "chance_all": chance}).to_csv(folder / "semantic.csv", index=False)
    (results / "models" / rid).mkdir(parents=True)
    (results / "models" / rid / "metrics.json").write_text(json.dumps({"test": {"mae": mae} if mae is not None else {}}))


def test_the_study_reports_the_mean_over_seeds_and_its_95_interval(tmp_path, monkeypatch):
    import pandas as pd
    from scipy import stats

    import attriflow.dissection.figures as dfig
    from attriflow.reporting.papers.semantic_cxr import build_report

    t = stats.t.ppf(0.975, 1)  # 12.706: two seeds
    results = tmp_path / "results"
    _plant(results, "sev", {"effusion": [0.1, 0.2]}, mae=1.0)
    _plant(results, "sev-seed1", {"effusion": [0.3, 0.3, 0.3, 0.3], "heart": [0.5]}, mae=2.0)
    _plant(results, "weak", {"effusion": [0.2], "heart": [0.1]}, semantic=([1, 1, 0, 0], [0.5] * 4))
    _plant(results, "weak-seed1", {"effusion": [0.2], "heart": [0.1]}, semantic=([1, 1, 1, 1], [0.25] * 4))
    spec = {"model": "small_densenet", "dataset": "cxr-severity", "task": "regression", "loss": {"weighted": True},
            "init": "multi"}
    cfg = {"scale": "smoke", "dissection": {"runs": ["sev", "weak"], "layer": "features.relu5", "probe": ["cxr-probe"],
                                            "iou_threshold": 0.04, "quantile": 0.99},
           "study": {"severity": ["sev"], "weak": ["weak"], "semantic": ["weak"], "inits": {"multi": "chexpert"},
                     "context_concepts": ["heart"]},
           "specs": {"sev": spec, "sev-seed1": {**spec, "seed": 1},
                     "weak": {**spec, "task": "binary", "dataset": "cxr-weak"},
                     "weak-seed1": {**spec, "task": "binary", "dataset": "cxr-weak", "seed": 1}},
           "repeats": {"sev": {"0": "sev", "1": "sev-seed1"}, "weak": {"0": "weak", "1": "weak-seed1"}}}
    figs = {}
    save = dfig._save
    monkeypatch.setattr(dfig, "_save", lambda fig, path: figs.setdefault(path.stem, fig) and save(fig, path))
    out = tmp_path / "reports"
    build_report(cfg, results, out)

    cu = pd.read_csv(out / "tables" / "concept_units.csv").set_index(["run", "concept"])
    eff = cu.loc[("sev", "effusion")]
    assert eff["n_units"] == 3 and eff["n_units_ci95"] == pytest.approx(t * 2 ** 0.5 / 2 ** 0.5)
    assert eff["mean_iou"] == pytest.approx((0.15 + 0.3) / 2) and eff["n_seeds"] == 2 and eff["seeds"] == "0 1"
    heart = cu.loc[("sev", "heart")]  # a concept one seed lacks: 0 units there; its IoU from the seed that has one
    assert heart["n_units"] == 0.5 and heart["mean_iou"] == pytest.approx(0.5) and pd.isna(heart["mean_iou_ci95"])
    assert cu.loc[("weak", "effusion")]["n_units_ci95"] == 0  # the same count in both seeds

    sev = pd.read_csv(out / "tables" / "severity.csv").set_index("run").loc["sev"]
    assert sev["mae"] == 1.5 and sev["mae_ci95"] == pytest.approx(t * 0.5 ** 0.5 / 2 ** 0.5, abs=1e-4)
    assert sev["n_seeds"] == 2 and sev["seeds"] == "0 1" and sev["published_mae"] == 1.72  # beside the published MAE

    rank = pd.read_csv(out / "tables" / "semantic_rank.csv").set_index(["run", "concepts"]).loc[("weak", "pathology")]
    assert rank["n_images"] == 8 and rank["top1_hits"] == 6 and rank["hit_rate"] == 0.75  # images of both seeds pooled
    assert rank["chance_rate"] == pytest.approx(0.375)
    assert rank["p_value"] == pytest.approx(poisson_binomial_sf(6, np.array([0.5] * 4 + [0.25] * 4)))
    assert rank["hit_rate_ci95"] == pytest.approx(t * np.std([0.5, 1.0], ddof=1) / 2 ** 0.5)
    assert rank["n_seeds"] == 2

    claims = pd.read_csv(out / "tables" / "claims.csv")
    units_claim = claims[claims["claim"].str.startswith("a severity-regression model")].iloc[0]
    assert units_claim["ours"].startswith("3 (effusion)") and "mean over 2 seeds" in units_claim["measure"]
    summary = (out / "summary.md").read_text()
    assert "mean over 2 training seeds (0 1)" in summary and "MAE 1.500 ±" in summary
    # the concept-unit figures: the mean with a 95% error bar on every bar
    ax = figs["severity_concepts"].axes[0]
    bars = [b for c in ax.containers if c.__class__.__name__ == "BarContainer" for b in c if b.get_height() > 0]
    errs = [c for c in ax.containers if c.__class__.__name__ == "ErrorbarContainer"]
    assert len(bars) == 2 and len(errs) == 2  # effusion and heart (3 and 0.5 units on average)
    assert "mean, 95% interval, 2 seeds" in ax.get_ylabel()


def test_one_seed_keeps_the_figure_without_error_bars(tmp_path, monkeypatch):
    import attriflow.dissection.figures as dfig
    from attriflow.dissection.figures import plot_concept_units

    figs = []
    monkeypatch.setattr(dfig, "_save", lambda fig, path: figs.append(fig) or path)
    import pandas as pd

    df = pd.DataFrame({"concept": ["a", "b"], "init": ["x", "x"], "n_units": [2.0, 1.0], "mean_iou": [0.1, 0.2],
                       "n_units_ci95": [float("nan")] * 2, "n_seeds": [1, 1], "seeds": ["0", "0"]})
    plot_concept_units(df, tmp_path / "f.png", hue="init", title="t")
    assert not [c for c in figs[0].axes[0].containers if c.__class__.__name__ == "ErrorbarContainer"]
    plot_concept_units(df.assign(n_units_ci95=[0.5, 1.0], n_seeds=2), tmp_path / "f.png", hue="init", title="t")
    assert len([c for c in figs[1].axes[0].containers if c.__class__.__name__ == "ErrorbarContainer"]) == 2
