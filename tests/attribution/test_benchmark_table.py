"""The benchmark's Markdown table helper (the benchmark itself is run by hand, not in the tests)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pandas as pd

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "attribution.py"


def load_benchmark():
    spec = importlib.util.spec_from_file_location("benchmark_attribution", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_format_markdown_from_csv(tmp_path):
    bench = load_benchmark()
    rows = [
        {"method": "gradient", "model": "resnet18", "attriflow_s": 0.07, "peer": "captum.Saliency", "peer_s": 0.071,
         "ratio": 0.986, "floor_s": 0.07, "peak_mb": 120.0},
        {"method": "rectgrad", "model": "resnet18", "attriflow_s": 0.08, "peer": None, "peer_s": None,
         "ratio": None, "floor_s": 0.07, "peak_mb": None},
    ]
    path = tmp_path / "attribution.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    lines = bench.format_markdown(path).splitlines()
    assert lines[0].startswith("| method | model | attriflow (s) | peer | peer (s) | ratio | x floor |")
    assert lines[2] == "| gradient | resnet18 | 0.0700 | captum.Saliency | 0.0710 | 0.99 | 1.00 | 120 |"
    assert lines[3] == "| rectgrad | resnet18 | 0.0800 |  |  |  | 1.14 |  |"
