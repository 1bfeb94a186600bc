"""``reports/methods/``: every benchmarked attribution method (built-in or plug-in) on every benchmark.

Inputs are the generic evaluation results of config ``benchmark.methods`` x ``benchmark.runs``
(:func:`result_files` names them; the workflow requests exactly those). Per benchmark one table (one
row per run and method: the benchmark's numbers, the score it is ranked by, the rank, the published
number where a paper gives one for that method) and one figure; then the ranking of every method on
every benchmark (direction stated), Kendall's tau between the rankings of every pair of benchmarks and
of every pair of runs, the cost of every (method, benchmark, run) cell from Snakemake's benchmark files,
and a one-page ``summary.md`` written from those numbers only.
"""

from __future__ import annotations

import glob
import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from attriflow.errors import UserError
from attriflow.reporting.published import published
from attriflow.reporting.tables import write_table
from attriflow.utils.io import atomic_write_text, read_json

MEASURE_PREFERENCE = ("ssim", "spearman_abs", "spearman", "hog")


@dataclass(frozen=True)
class Benchmark:
    """One generic evaluation: where its results and Snakemake benchmark files are, how it is scored."""

    name: str
    title: str
    result: str  # path template of one result file ({run}, {entry}, and {fraction} for ROAR)
    cost: str  # glob template of the Snakemake benchmark files of its jobs
    direction: str  # "lower" or "higher" score is better
    score: str  # what the score is, in words


BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in (
    Benchmark("randomisation", "Cascading model parameter randomisation",
              "results/eval/randomisation/{run}/{entry}.csv", "logs/benchmarks/eval/randomisation/{run}/{entry}.tsv",
              "lower", "similarity of the map to the original once every stage is re-drawn (mean over images)"),
    Benchmark("class_sensitivity", "Class sensitivity",
              "results/eval/class_sensitivity/{run}/{entry}.csv", "logs/benchmarks/eval/class_sensitivity/{run}/{entry}.tsv",
              "lower", "similarity of the predicted class's map to another class's map (mean over images and comparisons)"),
    Benchmark("perturbation", "Pixel perturbation",
              "results/eval/perturbation/{run}/{entry}.csv", "logs/benchmarks/eval/perturbation/{run}/{entry}.tsv",
              "lower", "mean |p - p0| / p0 of the target class when the least relevant pixels are removed first "
                       "(LeRF, mean over fractions)"),
    Benchmark("roar", "ROAR (remove and retrain)",
              "results/roar/{run}/{entry}/{fraction}/seed{seed}/metrics.json", "logs/benchmarks/roar/{run}/{entry}/*/*.tsv",
              "lower", "test accuracy after retraining without the top pixels (mean over the removed fractions and seeds)"),
)}
ATTRIBUTE_COST = "logs/benchmarks/attribute/{run}/*/{entry}.tsv"
ROAR_UNMODIFIED = "results/roar/{run}/none/0/seed{seed}/metrics.json"


def result_files(evaluations: Sequence[str], runs: Sequence[str], entries: Sequence[str],
                 fractions: Sequence[int], seeds: Sequence[int] = (0,)) -> list[str]:
    """Every result file the methods report reads, in a fixed order (ROAR: every fraction and seed)."""
    _check_evaluations(evaluations)
    files = []
    for ev, run, entry in itertools.product(evaluations, runs, entries):
        b = BENCHMARKS[ev]
        if ev == "roar":
            files += [b.result.format(run=run, entry=entry, fraction=f, seed=s)
                      for f in fractions if f > 0 for s in seeds]
        else:
            files.append(b.result.format(run=run, entry=entry))
    if "roar" in evaluations:  # the 0% point: each run retrained on unmodified data with the same budget
        files += [ROAR_UNMODIFIED.format(run=run, seed=s) for run in runs for s in seeds]
    return files


def _check_evaluations(evaluations: Sequence[str]) -> None:
    unknown = [e for e in evaluations if e not in BENCHMARKS]
    if unknown:
        raise UserError(f"benchmark.evaluations: unknown {unknown}; valid: {', '.join(BENCHMARKS)}")


def _measure(df: pd.DataFrame) -> str:
    present = list(dict.fromkeys(df["measure"]))
    return next((m for m in MEASURE_PREFERENCE if m in present), present[0])


# ------------------------------------------------------------------------------------- per benchmark


def _read_csvs(b: Benchmark, runs, entries, root: Path) -> pd.DataFrame:
    frames = []
    for run, entry in itertools.product(runs, entries):
        path = root / b.result.format(run=run, entry=entry)
        df = pd.read_csv(path)
        if df.empty:
            raise UserError(f"{path}: no rows")
        frames.append(df.assign(run=run, method=entry))
    return pd.concat(frames, ignore_index=True)


def _randomisation(b, runs, entries, fractions, root):
    df = _read_csvs(b, runs, entries, root)
    if "order" in df.columns and (df["order"] == "cascading").any():
        df = df[df["order"] == "cascading"]
    measure = _measure(df)
    last = df[(df["measure"] == measure) & (df["stage"] == df["stage"].max())]
    table = last.groupby(["run", "method"], sort=False)["value"].mean().rename("score").reset_index()
    table.insert(2, "measure", f"{measure}, last stage ({last['layer'].iloc[0] if 'layer' in last else 'all'})")
    return table, df, lambda path: _plot("plot_randomisation", df, path, title=b.title)


def _class_sensitivity(b, runs, entries, fractions, root):
    df = _read_csvs(b, runs, entries, root)
    measure = _measure(df)
    part = df[df["measure"] == measure]
    wide = part.pivot_table(index=["run", "method"], columns="comparison", values="value", aggfunc="mean", sort=False)
    wide.columns = [f"{measure} vs {c} class" for c in wide.columns]
    table = wide.reset_index()
    table["score"] = part.groupby(["run", "method"], sort=False)["value"].mean().to_numpy()
    return table, df, lambda path: _plot("plot_class_sensitivity", df, path, measure=measure, title=b.title)


def _perturbation(b, runs, entries, fractions, root):
    df = _read_csvs(b, runs, entries, root)
    if "rel_change" not in df.columns:
        df["rel_change"] = (df["p"] - df["p_original"]).abs() / df["p_original"]
    means = df.groupby(["run", "method", "order", "fraction"], sort=False)["rel_change"].mean().reset_index()
    wide = means.pivot_table(index=["run", "method"], columns=["order", "fraction"], values="rel_change", sort=False)
    wide.columns = [f"{o} {round(100 * f)}%" for o, f in wide.columns]
    table = wide.reset_index()
    order = "lerf" if (means["order"] == "lerf").any() else "morf"
    score = means[means["order"] == order].groupby(["run", "method"], sort=False)["rel_change"].mean()
    table["score"] = score.reindex(pd.MultiIndex.from_frame(table[["run", "method"]])).to_numpy()
    if order == "morf":  # only MoRF computed: a larger change is better
        table.attrs["direction"] = "higher"
    pub = _published_perturbation()
    col = "lerf 10%"
    if col in table.columns:
        table["published lerf 10%"] = table["method"].map(lambda m: pub.get(m, (math.nan, ""))[0])
        table["published source"] = table["method"].map(lambda m: pub.get(m, (math.nan, ""))[1])
    return table, df, lambda path: _plot("plot_perturbation", df, path, title=b.title)


def _accuracy(path: Path) -> float:
    try:
        return float(read_json(path)["test"]["accuracy"])
    except (KeyError, TypeError):
        raise UserError(f"{path}: no test.accuracy") from None


def _roar(b, runs, entries, fractions, root, seeds=(0,)):
    fractions = [f for f in fractions if f > 0]
    zero = {(run, s): _accuracy(root / ROAR_UNMODIFIED.format(run=run, seed=s)) for run in runs for s in seeds}
    unmodified = {run: float(np.mean([zero[run, s] for s in seeds])) for run in runs}
    rows = [{"run": run, "method": entry, "fraction": f / 100, "seed": s,
             "accuracy": _accuracy(root / b.result.format(run=run, entry=entry, fraction=f, seed=s))}
            for run, entry, f, s in itertools.product(runs, entries, fractions, seeds)]
    long = pd.DataFrame(rows)
    wide = long.pivot_table(index=["run", "method"], columns="fraction", values="accuracy", sort=False)
    wide.columns = [f"accuracy {round(100 * f)}%" for f in wide.columns]
    table = wide.reset_index()
    table.insert(2, "accuracy 0% (retrained, unmodified)", table["run"].map(unmodified))
    table["score"] = long.groupby(["run", "method"], sort=False)["accuracy"].mean().to_numpy()
    curves_ours = pd.concat([long, pd.DataFrame([{"run": r, "method": e, "fraction": 0.0, "seed": s, "accuracy": zero[r, s]}
                                                 for r in runs for e in entries for s in seeds])], ignore_index=True)
    baseline = unmodified[runs[0]] if len(runs) == 1 else None
    pub, source = _published_roar()
    curves = []
    for f in fractions:
        table[f"published {f}%"] = table["method"].map(lambda m, f=f: pub.get(m, {}).get(f, math.nan) / 100)  # as ours: 0..1
        curves += [{"method": m, "fraction": f / 100, "accuracy": v[f] / 100, "source": source}
                   for m, v in pub.items() if f in v and m in set(table["method"])]
    if curves:
        table["published source"] = table["method"].map(lambda m: source if m in pub else "")
    published_curves = pd.DataFrame(curves) if curves else None
    return table, long, lambda path: _plot("plot_roar", curves_ours.sort_values("fraction"), path,
                                           published=published_curves, baseline=baseline, title=b.title)


def _plot(name: str, df: pd.DataFrame, path: Path, **kwargs) -> Path:
    from attriflow.reporting import figures

    return getattr(figures, name)(df, path, **kwargs)


LOADERS: dict[str, Callable] = {"randomisation": _randomisation, "class_sensitivity": _class_sensitivity,
                                "perturbation": _perturbation, "roar": _roar}


def _published_roar() -> tuple[dict[str, dict[int, float]], str]:
    """PruneGrad's ROAR accuracies (percent) by method and fraction, and their source."""
    roar = (published().get("prunegrad") or {}).get("roar_accuracy") or {}
    fractions = roar.get("fractions", [])
    return ({m: dict(zip(fractions, v)) for m, v in (roar.get("methods") or {}).items()}, roar.get("source", ""))


def _published_perturbation() -> dict[str, tuple[float, str]]:
    """PruneGrad's pixel perturbation at 10% of the pixels (LeRF) by method, with the source."""
    rows = (published().get("prunegrad") or {}).get("pixel_perturbation_10pct") or []
    return {r["method"]: (r["value"], r["source"]) for r in rows}


# ---------------------------------------------------------------------------------- rankings and costs


def rank(table: pd.DataFrame, direction: str) -> pd.Series:
    """Rank 1 = best within each run (ties share the lower rank; a score that is NaN, e.g. the
    similarity of a constant map, ranks last)."""
    return table.groupby("run")["score"].rank(ascending=direction == "lower", method="min", na_option="bottom")


def kendall(ranks: pd.DataFrame, by: str, over: str) -> pd.DataFrame:
    """Kendall's tau between the rankings of every pair of ``by`` values (benchmarks or runs), computed
    over the methods ranked by both, one row per pair and per value of ``over``."""
    from scipy.stats import kendalltau

    rows = []
    for key, part in ranks.groupby(over, sort=False):
        wide = part.pivot_table(index="method", columns=by, values="rank")
        for a, b in itertools.combinations(list(wide.columns), 2):
            both = wide[[a, b]].dropna()
            tau, p = kendalltau(both[a], both[b]) if len(both) >= 2 else (math.nan, math.nan)
            rows.append({"between": by, over: key, "a": a, "b": b, "tau": tau, "p_value": p, "methods": len(both)})
    return pd.DataFrame(rows, columns=["between", over, "a", "b", "tau", "p_value", "methods"])


def read_cost(paths: Sequence[str]) -> dict[str, float]:
    """Total wall time, CPU time and peak resident memory (MB) of Snakemake benchmark files."""
    frames = [pd.read_csv(p, sep="\t") for p in paths]
    if not frames:
        return {"jobs": 0, "wall_s": math.nan, "cpu_s": math.nan, "peak_rss_mb": math.nan}
    df = pd.concat(frames, ignore_index=True)
    num = lambda c: pd.to_numeric(df[c], errors="coerce") if c in df.columns else pd.Series([math.nan])  # noqa: E731
    return {"jobs": len(frames), "wall_s": float(num("s").sum()), "cpu_s": float(num("cpu_time").sum()),
            "peak_rss_mb": float(num("max_rss").max())}


def costs(evaluations, runs, entries, root: Path) -> pd.DataFrame:
    """One row per (method, stage, run): the attribution maps (``attribute``) and each benchmark's own jobs."""
    rows = []
    stages = [("attribute", ATTRIBUTE_COST)] + [(ev, BENCHMARKS[ev].cost) for ev in evaluations]
    for (stage, template), run, entry in itertools.product(stages, runs, entries):
        paths = sorted(glob.glob(str(root / template.format(run=run, entry=entry))))
        rows.append({"method": entry, "stage": stage, "run": run, **read_cost(paths)})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------- the report


def build_methods_report(entries: Sequence[str], runs: Sequence[str], fractions: Sequence[int],
                         evaluations: Sequence[str], out_dir: str | Path, *, method_of: Mapping[str, str] | None = None,
                         plugins: Sequence[str] = (), scale: str = "", seed: int | None = None,
                         roar_seeds: Sequence[int] = (0,), root: str | Path = ".") -> list[Path]:
    """Write every table, figure and the summary of ``reports/methods``; returns the files written."""
    _check_evaluations(evaluations)
    if not entries or not runs:
        raise UserError("benchmark.methods and benchmark.runs must each name at least one entry")
    root, out = Path(root), Path(out_dir)
    method_of = dict(method_of or {})
    kind = {e: ("plug-in" if method_of.get(e, e) in set(plugins) else "built-in") for e in entries}
    written: list[Path] = []
    all_ranks = []
    directions = {}
    for ev in evaluations:
        b = BENCHMARKS[ev]
        extra = {"seeds": list(roar_seeds)} if ev == "roar" else {}
        table, _, plot = LOADERS[ev](b, runs, entries, fractions, root, **extra)
        direction = table.attrs.get("direction", b.direction)
        directions[ev] = direction
        table["rank"] = rank(table, direction).astype(int)
        table.insert(2, "attribution method", table["method"].map(lambda e: method_of.get(e, e)))
        table.insert(3, "kind", table["method"].map(kind))
        table = table.assign(direction=f"{direction} is better", scale=scale, seed=seed)
        first = ["run", "method", "attribution method", "kind", "rank", "score", "direction"]
        table = table[first + [c for c in table.columns if c not in first]].sort_values(["run", "rank", "method"])
        written += write_table(table, out / "tables" / f"{ev}.csv", title=f"{b.title}: every benchmarked method",
                               note=f"score: {b.score}; {direction} is better. Published numbers (columns 'published ...') "
                                    "are the papers', beside ours, never in place of them.")
        written.append(plot(out / "figures" / f"{ev}.png"))
        all_ranks.append(table[["run", "method", "rank", "score"]].assign(benchmark=ev))
    ranks = pd.concat(all_ranks, ignore_index=True)
    summary = ranks.pivot_table(index=["run", "method"], columns="benchmark", values="rank", sort=False)
    summary = summary[list(evaluations)]
    summary["mean rank"] = summary.mean(axis=1)
    summary = summary.reset_index().sort_values(["run", "mean rank", "method"])
    summary.insert(2, "kind", summary["method"].map(kind))
    written += write_table(summary.assign(scale=scale, seed=seed), out / "tables" / "ranking.csv",
                           title="Rank of every method on every benchmark (1 = best)",
                           note="Directions: " + "; ".join(f"{ev}: {d} is better" for ev, d in directions.items()))
    stability = pd.concat([kendall(ranks, "benchmark", "run"), kendall(ranks, "run", "benchmark")], ignore_index=True)
    written += write_table(stability, out / "tables" / "stability.csv",
                           title="Ranking stability: Kendall's tau between rankings",
                           note="between = benchmark: two benchmarks' rankings on one run; between = run: one benchmark's "
                                "rankings on two runs (models or seeds). tau = 1: the same order; 0: unrelated.")
    cost = costs(evaluations, runs, entries, root)
    written += write_table(cost, out / "tables" / "cost.csv", title="Cost of every (method, stage, run) cell",
                           note="From Snakemake's benchmark files (logs/benchmarks/...): summed wall and CPU seconds "
                                "of the cell's jobs, peak resident memory of the largest job.")
    written.append(_plot_ranks(summary, list(evaluations), directions, out / "figures" / "ranking.png"))
    written.append(atomic_write_text(out / "summary.md", summary_text(summary, stability, cost, directions,
                                                                       kind, scale, seed)))
    return written


def _plot_ranks(summary: pd.DataFrame, evaluations: list[str], directions: Mapping[str, str], path: Path) -> Path:
    import seaborn as sns
    from matplotlib.figure import Figure

    from attriflow.reporting.figures import _save

    runs = list(dict.fromkeys(summary["run"]))
    fig = Figure(figsize=(1.3 * len(evaluations) + 3.5, (0.4 * len(summary) / len(runs) + 1.6) * len(runs)))
    axes = fig.subplots(len(runs), 1, squeeze=False)[:, 0]
    for ax, run in zip(axes, runs):
        part = summary[summary["run"] == run].set_index("method")[evaluations + ["mean rank"]]
        sns.heatmap(part, annot=True, fmt=".3g", cmap="viridis_r", cbar_kws={"label": "rank (1 = best)"}, ax=ax)
        ax.set_xticklabels([f"{e}\n({directions.get(e, '')} better)" if e in directions else e for e in part.columns],
                           fontsize=8)
        ax.set_xlabel("benchmark")
        ax.set_ylabel("method")
        ax.set_title(f"Rank of every method on every benchmark, run {run}")
    fig.tight_layout()
    return _save(fig, path)


def summary_text(summary: pd.DataFrame, stability: pd.DataFrame, cost: pd.DataFrame, directions: Mapping[str, str],
                 kind: Mapping[str, str], scale: str, seed) -> str:
    """The one-page summary, written from the computed tables only."""
    lines = [f"# Attribution methods on every benchmark (scale {scale}, seed {seed})", ""]
    plugins = sorted(e for e, k in kind.items() if k == "plug-in")
    lines.append(f"Methods: {len(kind)} ({len(plugins)} plug-in{'s' if len(plugins) != 1 else ''}"
                 f"{': ' + ', '.join(plugins) if plugins else ''}); benchmarks: {', '.join(directions)}.")
    lines.append("")
    lines.append("## Rankings (1 = best)")
    for run, part in summary.groupby("run", sort=False):
        lines.append(f"Run `{run}`:")
        for ev, direction in directions.items():
            order = part.sort_values([ev, "method"])
            lines.append(f"- {ev} ({direction} score is better): "
                         + ", ".join(f"{int(r[ev])}. {r['method']}" for _, r in order.iterrows()))
        best = part.iloc[0]
        lines.append(f"- mean rank over the benchmarks: best {best['method']} ({best['mean rank']:.2f}); "
                     + ", ".join(f"{r['method']} {r['mean rank']:.2f}" for _, r in part.iterrows()))
        lines.append("")
    lines.append("## How stable are the rankings (Kendall's tau)")
    taus = stability.dropna(subset=["tau"])
    if taus.empty:
        lines.append("No pair of rankings to compare (one benchmark and one run, or fewer than two methods).")
    for between, part in taus.groupby("between", sort=False):
        lines.append(f"- between {between}s: mean tau {part['tau'].mean():.2f} over {len(part)} pairs (range "
                     f"{part['tau'].min():.2f} to {part['tau'].max():.2f}); "
                     + ", ".join(f"{r['a']} vs {r['b']} ({'run' if between == 'benchmark' else 'benchmark'} "
                                 f"{r['run'] if between == 'benchmark' else r['benchmark']}) {r['tau']:.2f}"
                                 for _, r in part.iterrows()))
    lines.append("")
    lines.append("## Cost per method (all runs, from Snakemake's benchmark files)")
    per = cost.groupby(["method", "stage"], sort=False).agg(wall_s=("wall_s", "sum"), peak=("peak_rss_mb", "max"),
                                                            jobs=("jobs", "sum")).reset_index()
    missing = per[per["jobs"] == 0]
    for method, part in per[per["jobs"] > 0].groupby("method", sort=False):
        lines.append(f"- {method}: " + "; ".join(f"{r['stage']} {r['wall_s']:.1f} s, peak {r['peak']:.0f} MB"
                                                 for _, r in part.iterrows()))
    if not missing.empty:
        lines.append(f"- no benchmark file found for {len(missing)} (method, stage) cells (results made by an "
                     "earlier run whose logs are gone, or a stage without jobs of its own); their cost is blank.")
    lines.append("")
    lines.append("Tables: tables/<benchmark>.csv (numbers, score, rank, published beside ours), tables/ranking.csv, "
                 "tables/stability.csv, tables/cost.csv; figures: figures/<benchmark>.png, figures/ranking.png.")
    return "\n".join(lines) + "\n"


def report_outputs(evaluations: Sequence[str], out_dir: str = "reports/methods") -> dict[str, tuple[str, str | None]]:
    """The workflow's outputs of the methods report: key -> (path, caption name or None); tables (CSV),
    figures and the summary have a caption ``workflow/report/methods/<name>.rst``, Markdown twins none."""
    out = {}
    for name in output_names(evaluations):
        p = Path(name)
        shown = p.suffix in (".csv", ".png") or p.name == "summary.md"
        key = "_".join(part for part in (p.parent.name, p.stem, p.suffix[1:]) if part)
        out[key] = (f"{out_dir}/{name}", p.stem if shown else None)
    return out


def output_names(evaluations: Sequence[str]) -> list[str]:
    """The files ``build_methods_report`` writes under ``reports/methods`` (relative paths)."""
    names = []
    for ev in evaluations:
        names += [f"tables/{ev}.csv", f"tables/{ev}.md", f"figures/{ev}.png"]
    for t in ("ranking", "stability", "cost"):
        names += [f"tables/{t}.csv", f"tables/{t}.md"]
    return names + ["figures/ranking.png", "summary.md"]


__all__ = ["BENCHMARKS", "build_methods_report", "kendall", "output_names", "rank", "read_cost", "report_outputs",
           "result_files"]
