"""benchmarks/evaluation.py --quick runs and finds the same values as Quantus in every case."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pandas as pd
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "evaluation.py"


def test_quick_benchmark_writes_equal_values(tmp_path):
    pytest.importorskip("quantus")
    spec = importlib.util.spec_from_file_location("benchmark_evaluation", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    out = tmp_path / "evaluation.csv"
    assert module.main(["--quick", "--threads", "1", "--out", str(out)]) == 0
    df = pd.read_csv(out)
    assert list(df.columns[:6]) == ["metric", "attriflow_s", "quantus_s", "floor_s", "ratio", "max_abs_diff"]
    compared = df.dropna(subset=["quantus_s"])
    assert len(compared) == 4 and (compared.max_abs_diff < 1e-5).all(), compared
    assert (df.attriflow_s > 0).all()
    table = module.format_markdown(out).splitlines()
    assert len(table) == len(df) + 2 and table[2].startswith(f"| {df.metric[0]} | resnet18, 2x3x24x24 |")
