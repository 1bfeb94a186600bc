"""``reports/index.html``: one self-contained page a person reads in a browser.

The page is built only from what the per-paper manifests (``reports/<id>/all``) list, so a paper's new
figures and tables appear without changes here. Per paper: its rendered ``summary.md``, its tables
(published number beside ours with the difference where both are numbers), its figures with the
captions of ``workflow/report/<id>/<name>.rst``. On top: the claims of all papers, and at the end the
provenance (commit, config hash, seed, versions, machine, device, wall time per rule). Images are
linked relative to the page; there is no script, font or style sheet from the network.
"""

from __future__ import annotations

import hashlib
import html
import json
import numbers
import os
import platform
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd

from attriflow.errors import UserError
from attriflow.reporting.claims import HOLDS, claims_summary
from attriflow.utils.io import atomic_write_text

FIGURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".svg", ".gif", ".webp")
MAX_TABLE_ROWS = 60
OURS_COLUMNS = ("ours", "value")  # the column holding this run's number, beside a 'published' column


def config_hash(config: dict) -> str:
    """SHA-256 of the config as canonical JSON (sorted keys), so equal settings give equal hashes."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def read_manifest(path: str | Path) -> list[Path]:
    """The files a manifest ``reports/<id>/all`` lists (``<sha256>  <path>`` lines after a ``#`` header)."""
    files = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("  ", 1)
        if len(parts) != 2 or len(parts[0]) != 64:
            raise UserError(f"{path}, line {n}: expected '<sha256>  <path>', got {line!r}")
        files.append(Path(parts[1]))
    return files


# ---------------------------------------------------------------------------------------------- pieces


def caption_file(captions_dir: Path, paper: str, stem: str) -> Path | None:
    """The caption of a figure or table ``stem``: ``<captions_dir>/<paper>/<stem>.rst``, else
    ``<captions_dir>/<stem>.rst``; a per-run output ``<name>_<run>`` shares the caption ``<name>.rst``."""
    parts = stem.split("_")
    for n in range(len(parts), 0, -1):
        name = "_".join(parts[:n])
        for path in (Path(captions_dir) / paper / f"{name}.rst", Path(captions_dir) / f"{name}.rst"):
            if path.is_file():
                return path
    return None


def render_caption(captions_dir: Path | None, paper: str, stem: str, config: dict | None = None) -> str:
    """HTML of the caption :func:`caption_file` finds, '' when none.

    Captions are Snakemake report captions: Jinja (``{{ snakemake.config[...] }}``) over reStructuredText.
    """
    if captions_dir is None:
        return ""
    path = caption_file(captions_dir, paper, stem)
    if path is None:
        return ""
    import jinja2
    from docutils.core import publish_parts

    try:
        text = jinja2.Template(path.read_text(encoding="utf-8"), undefined=jinja2.StrictUndefined).render(
            snakemake=SimpleNamespace(config=config or {}, wildcards=SimpleNamespace(paper=paper), params=SimpleNamespace()))
    except jinja2.TemplateError as err:
        raise UserError(f"{path}: caption template fails: {err}") from err
    settings = {"report_level": 5, "halt_level": 5, "input_encoding": "unicode", "output_encoding": "unicode"}
    return publish_parts(text, writer="html5", settings_overrides=settings)["fragment"]


def render_markdown(path: Path) -> str:
    """HTML of a Markdown file (CommonMark with tables); raw HTML in it is escaped, not passed through."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table").render(path.read_text(encoding="utf-8"))


def with_difference(df: pd.DataFrame) -> pd.DataFrame:
    """Add ``difference`` (ours - published) after ``published`` where a row has both as numbers."""
    ours = next((c for c in OURS_COLUMNS if c in df.columns), None)
    if ours is None or "published" not in df.columns or "difference" in df.columns:
        return df
    a = pd.to_numeric(df[ours], errors="coerce")
    b = pd.to_numeric(df["published"], errors="coerce")
    diff = a - b
    if diff.notna().sum() == 0:
        return df
    out = df.copy()
    out.insert(out.columns.get_loc("published") + 1, "difference", diff)
    return out


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "" if pd.isna(v) else f"{v:.4g}"
    return "" if v is None else str(v)


def html_table(df: pd.DataFrame, cls: str = "data", max_rows: int | None = MAX_TABLE_ROWS) -> str:
    """An escaped HTML table; ``holds`` cells get a class so that a claim that does not hold shows so."""
    shown = df if max_rows is None else df.head(max_rows)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)
    rows = []
    for row in shown.itertuples(index=False):
        cells = []
        for col, v in zip(shown.columns, row):
            text = html.escape(_fmt(v))
            if col == "holds" and str(v) in HOLDS:
                cells.append(f'<td class="holds holds-{str(v).replace(" ", "-")}">{text}</td>')
            elif isinstance(v, numbers.Number) and not isinstance(v, bool):
                cells.append(f'<td class="num">{text}</td>')
            else:
                cells.append(f"<td>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def rule_times(benchmarks_dir: Path | None) -> pd.DataFrame:
    """Wall time per rule from Snakemake's benchmark files ``<dir>/<rule>/**/*.tsv`` (column ``s``)."""
    rows = []
    if benchmarks_dir is not None and Path(benchmarks_dir).is_dir():
        for tsv in sorted(Path(benchmarks_dir).rglob("*.tsv")):
            try:
                bench = pd.read_csv(tsv, sep="\t")
            except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
                continue
            if "s" not in bench.columns or bench.empty:
                continue
            rule = tsv.relative_to(benchmarks_dir).parts[0]
            rows.append({"rule": rule, "s": float(bench["s"].iloc[-1]),
                         "max_rss_mb": float(bench["max_rss"].iloc[-1]) if "max_rss" in bench.columns and pd.api.types.is_numeric_dtype(bench["max_rss"]) else float("nan")})
    if not rows:
        return pd.DataFrame(columns=["rule", "jobs", "total_s", "max_s", "max_rss_mb"])
    df = pd.DataFrame(rows)
    out = df.groupby("rule").agg(jobs=("s", "size"), total_s=("s", "sum"), max_s=("s", "max"), max_rss_mb=("max_rss_mb", "max"))
    return out.reset_index().sort_values("total_s", ascending=False).round(1)


def machine() -> dict[str, Any]:
    """Where this page was built: host, OS, CPU, cores, memory, and which torch devices exist."""
    info: dict[str, Any] = {"host": platform.node(), "os": platform.platform(), "cpu": platform.processor() or platform.machine(),
                            "cores": os.cpu_count()}
    try:
        info["memory_gb"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    try:
        import torch

        info["cuda"] = torch.cuda.device_count() if torch.cuda.is_available() else 0
    except ImportError:
        info["cuda"] = "torch not installed"
    return info


# ------------------------------------------------------------------------------------------------ page

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;background:#f6f7f9;line-height:1.45}
header{background:#1d2b45;color:#fff;padding:1.2rem 2rem}header h1{margin:0 0 .3rem 0;font-size:1.6rem}
header p{margin:0;opacity:.85}nav{padding:.5rem 2rem;background:#e6e9ef;position:sticky;top:0;z-index:2}
nav a{margin-right:1.1rem;color:#1d2b45;text-decoration:none;font-weight:600}main{padding:0 2rem 3rem 2rem;max-width:1400px}
section{background:#fff;border-radius:8px;padding:1rem 1.5rem;margin:1.2rem 0;box-shadow:0 1px 3px rgba(0,0,0,.08)}
h2{border-bottom:2px solid #d5dae3;padding-bottom:.3rem}h3{margin-top:1.6rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0;display:block;overflow-x:auto;max-width:100%}
th,td{border:1px solid #d5dae3;padding:.25rem .5rem;text-align:left;vertical-align:top}th{background:#eef1f6}
td.num{text-align:right;font-variant-numeric:tabular-nums}tbody tr:nth-child(even){background:#fafbfc}
td.holds{font-weight:700}td.holds-yes{background:#dff3e4;color:#14532d}td.holds-no{background:#fbe0e0;color:#7f1d1d}
td.holds-not-at-this-scale{background:#fdf3d8;color:#713f12}
figure{margin:1rem 0;display:inline-block;max-width:100%}figure img{max-width:100%;border:1px solid #d5dae3;background:#fff}
figcaption{font-size:.9rem;color:#3b4457;max-width:900px}.note{color:#5b6475;font-size:.85rem}
.summary{background:#f3f6fb;border-left:4px solid #1d2b45;padding:.2rem 1rem}.empty{color:#7f1d1d}
dl.prov{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dl.prov dt{font-weight:600}dl.prov dd{margin:0;font-family:monospace}
"""


def _paper_section(paper: str, files: list[Path], page_dir: Path, captions_dir: Path | None, config: dict | None) -> str:
    for f in files:
        if not f.is_file():
            raise UserError(f"reports/{paper}/all lists {f}, which does not exist: rebuild with snakemake reports/{paper}/all")
    figures = [f for f in files if f.suffix.lower() in FIGURE_SUFFIXES]
    tables = sorted((f for f in files if f.suffix == ".csv" and f.stem != "claims"), key=lambda f: (f.stem != "models", f.stem))
    summaries = [f for f in files if f.name == "summary.md"]
    claims = [f for f in files if f.name == "claims.csv"]
    shown = set(figures) | set(tables) | set(summaries) | set(claims) | {f.with_suffix(".md") for f in tables + claims}
    others = [f for f in files if f not in shown]
    rel = lambda f: html.escape(Path(os.path.relpath(f, page_dir)).as_posix())  # noqa: E731

    parts = [f'<section id="paper-{html.escape(paper)}"><h2>{html.escape(paper)}</h2>']
    if not files:
        parts.append('<p class="empty">No figure or table of this paper is built yet: its pipeline has not landed.</p>')
    for s in summaries:
        parts.append(f'<div class="summary">{render_markdown(s)}</div>')
    for t in tables + claims:
        df = with_difference(pd.read_csv(t))
        cap = render_caption(captions_dir, paper, t.stem, config)
        more = f" (first {MAX_TABLE_ROWS} of {len(df)} rows)" if len(df) > MAX_TABLE_ROWS else ""
        parts.append(f'<h3 id="{html.escape(paper)}-{html.escape(t.stem)}">Table: {html.escape(t.stem)}</h3>')
        if cap:
            parts.append(f'<div class="caption">{cap}</div>')
        if len(df):  # a table without rows is said in words, not drawn empty
            parts.append(html_table(df))
        parts.append(f'<p class="note">{len(df)} rows{more}; <a href="{rel(t)}">CSV</a></p>')
    for f in figures:
        cap = render_caption(captions_dir, paper, f.stem, config) or f"<p>{html.escape(f.stem)}</p>"
        parts.append(f'<figure id="{html.escape(paper)}-{html.escape(f.stem)}"><img src="{rel(f)}" alt="{html.escape(paper)}: {html.escape(f.stem)}">'
                     f"<figcaption><strong>{html.escape(f.stem)}</strong>{cap}</figcaption></figure>")
    if others:
        items = "".join(f'<li><a href="{rel(f)}">{html.escape(f.name)}</a></li>' for f in others)
        parts.append(f"<h3>Other files</h3><ul>{items}</ul>")
    parts.append("</section>")
    return "\n".join(parts)


def _provenance_section(prov: dict, config: dict | None, times: pd.DataFrame) -> str:
    mach = machine()
    items = {
        "git commit": prov.get("git_commit"), "scale": prov.get("scale"), "seed": prov.get("seed"),
        "config hash (SHA-256)": config_hash(config) if config is not None else "not given",
        "device (config)": (config or {}).get("device", "not given"),
        "built": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        **{f"machine: {k}": v for k, v in mach.items()},
    }
    dl = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>" for k, v in items.items())
    versions = pd.DataFrame(sorted(prov.get("versions", {}).items()), columns=["package", "version"])
    total = f"{times['total_s'].sum():.1f} s of job time over {int(times['jobs'].sum())} jobs" if len(times) else "no benchmark files found"
    return (f'<section id="provenance"><h2>Provenance</h2><dl class="prov">{dl}</dl>'
            f"<h3>Package versions</h3>{html_table(versions, max_rows=None)}"
            f"<h3>Wall time per rule</h3><p class=\"note\">From Snakemake's benchmark files (logs/benchmarks/): {html.escape(total)}; "
            f"jobs of a rule may have run in parallel.</p>{html_table(times, max_rows=None) if len(times) else ''}</section>")


def build_page(manifests: dict[str, str | Path], out: str | Path, *, provenance: dict, claims: pd.DataFrame,
               config: dict | None = None, captions_dir: str | Path | None = None,
               benchmarks_dir: str | Path | None = None) -> Path:
    """Write the page ``out`` from ``{paper: manifest path}``; paths in manifests are relative to the working directory."""
    out = Path(out)
    page_dir = out.parent
    captions = Path(captions_dir) if captions_dir else None
    papers = list(manifests)
    summary = claims_summary(claims, papers)
    n_no = int(summary["no"].sum())
    sections = [_paper_section(p, read_manifest(m), page_dir, captions, config) for p, m in manifests.items()]
    claims_intro = (f"{len(claims)} claims checked against this run: {int(summary['yes'].sum())} hold, {n_no} do not hold, "
                    f"{int(summary['not at this scale'].sum())} cannot be judged at this scale.") if len(claims) else \
        "No paper has written its claims table yet (reports/&lt;id&gt;/tables/claims.csv)."
    claims_html = html_table(claims, cls="data claims", max_rows=None) if len(claims) else ""
    nav = "".join(f'<a href="#paper-{html.escape(p)}">{html.escape(p)}</a>' for p in papers)
    scale = html.escape(str(provenance.get("scale")))
    body = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>attriflow replication report ({scale})</title><style>{CSS}</style></head>
<body><header><h1>attriflow: replication of five interpretability papers</h1>
<p>Scale <strong>{scale}</strong>, seed {html.escape(str(provenance.get('seed')))}, commit {html.escape(str(provenance.get('git_commit', ''))[:12])}.
Every number below was computed by this run; published numbers are shown beside ours with their source.</p></header>
<nav><a href="#claims">Claims</a>{nav}<a href="#provenance">Provenance</a></nav><main>
<section id="claims"><h2>Claims</h2><p>{claims_intro}</p>{html_table(summary, cls="data claims-summary", max_rows=None)}{claims_html}</section>
{chr(10).join(sections)}
{_provenance_section(provenance, config, rule_times(Path(benchmarks_dir) if benchmarks_dir else None))}
</main></body></html>
"""
    return atomic_write_text(out, body)
