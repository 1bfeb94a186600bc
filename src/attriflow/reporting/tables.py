"""Tables as CSV plus Markdown, every row carrying its provenance."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from attriflow.utils.io import atomic_write_text, save_dataframe


def write_table(df: pd.DataFrame, csv_path: str | Path, title: str = "", note: str = "") -> tuple[Path, Path]:
    """Write ``df`` to ``csv_path`` and a Markdown twin (``.md``) with an optional title and note."""
    csv_path = Path(csv_path)
    md_path = csv_path.with_suffix(".md")
    save_dataframe(csv_path, df)
    lines = [f"# {title}", ""] if title else []
    lines.append(_markdown(df))
    if note:
        lines += ["", note]
    atomic_write_text(md_path, "\n".join(lines) + "\n")
    return csv_path, md_path


def _markdown(df: pd.DataFrame) -> str:
    def cell(v) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return "" if v is None else str(v).replace("|", "\\|")

    head = "| " + " | ".join(map(str, df.columns)) + " |"
    sep = "|" + "|".join("---" for _ in df.columns) + "|"
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, sep, *rows])
