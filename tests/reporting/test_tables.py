"""Tables: the mean and 95% interval over seeds, and Markdown twins that show missing numbers as empty cells."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from attriflow.reporting.tables import mean_ci, seed_summary, write_table


def test_mean_ci_is_the_student_t_interval_and_empty_for_one_value():
    mean, half = mean_ci([1.0, 2.0, 3.0])
    assert mean == pytest.approx(2.0) and half == pytest.approx(4.302653 * 1.0 / math.sqrt(3), rel=1e-6)
    assert mean_ci([5.0])[0] == 5.0 and math.isnan(mean_ci([5.0])[1])


def test_seed_summary_and_its_markdown(tmp_path):
    df = pd.DataFrame({"method": ["a", "a", "b"], "value": [1.0, 3.0, 7.0], "seed": [0, 1, 0]})
    out = seed_summary(df, ["method"], "value")
    a, b = out.set_index("method").loc["a"], out.set_index("method").loc["b"]
    assert a["value"] == 2.0 and a["n_seeds"] == 2 and a["seeds"] == "0 1" and a["value_ci95"] > 0
    assert b["n_seeds"] == 1 and math.isnan(b["value_ci95"])
    _, md = write_table(out, tmp_path / "t.csv")
    row_b = next(line for line in md.read_text().splitlines() if line.startswith("| b |"))
    assert "nan" not in row_b and row_b.split(" | ")[2] == ""  # the interval of one seed: an empty cell
