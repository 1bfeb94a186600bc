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
