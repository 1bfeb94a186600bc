"""Report of the pathways paper (Khakzar et al., CVPR 2021), and the evaluation tables it shares with prunegrad.

``build_report(inputs, out_dir, scale)`` reads the result files named in ``inputs`` (kind -> paths):
``response`` / ``overlap`` (``attriflow pathways statistics``), ``sweep`` (``attriflow pathways sweep``),
``randomisation``, ``perturbation`` (``results/eval/<kind>/<run>/<entry>.csv``), ``roar``
(``results/roar/<run>/<entry>/<fraction>/metrics.json``) and ``models`` (the runs' metrics.json), and
writes tables, figures, ``summary.md`` and ``tables/claims.csv`` under ``out_dir``.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib import MatplotlibDeprecationWarning  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from attriflow.errors import UserError  # noqa: E402
from attriflow.reporting.figures import _save, plot_perturbation, plot_randomisation, plot_roar  # noqa: E402
from attriflow.reporting.papers.claims import Claims, fmt, mean_sem, verdict  # noqa: E402
from attriflow.reporting.tables import seed_summary, write_table  # noqa: E402
from attriflow.utils.io import read_json  # noqa: E402

SELECTOR_LABELS = {"mct": "NeuronMCT", "intgrad": "NeuronIntGrad", "random": "random", "greedy": "greedy",
                   "dgr": "DGR (channel gates)", "cdrp": "CDRP (neuron gates)"}
OURS = ("pathway_gradient", "prune_grad")
REFERENCES = ("gradient", "integrated_gradients")


# ---------------------------------------------------------------- reading result files

def _read_csvs(paths: Sequence[str], entry_from_name: bool = False, run_from_parent: bool = False) -> pd.DataFrame:
    frames = []
    for p in paths:
        df = pd.read_csv(p)
        if entry_from_name:
            df["method"] = Path(p).stem
        if run_from_parent:
            df["run"] = Path(p).parent.name
        frames.append(df)
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)


def roar_results(paths: Sequence[str], models: Sequence[str] = ()) -> pd.DataFrame:
    """One row per ROAR point and seed (``results/roar/<run>/<entry>/<fraction>/seed<k>/metrics.json``):
    run, method, fraction (percent), accuracy (percent), dataset, seed."""
    rows = []
    for p in paths:
        parts = Path(p).parts
        m = read_json(p)
        rows.append({"run": parts[-5], "method": parts[-4], "fraction": float(parts[-3]),
                     "accuracy": 100.0 * float(m["test"]["accuracy"]), "dataset": str(m.get("dataset")),
                     "seed": m.get("seed")})
    df = pd.DataFrame(rows, columns=["run", "method", "fraction", "accuracy", "dataset", "seed"])
    # the 0% point (`none`: unmodified data, retrained with the same budget) starts every method's curve
    unmodified = df[df["method"] == "none"]
    methods = [m for m in dict.fromkeys(df["method"]) if m != "none"]
    starts = [unmodified.assign(method=m) for m in methods if not unmodified.empty]
    return pd.concat([df[df["method"] != "none"], *starts], ignore_index=True)


def unmodified_accuracy(models: Sequence[str], run: str) -> float | None:
    for p in models:
        if Path(p).parent.name == run:
            return 100.0 * float(read_json(p)["test"]["accuracy"])
    return None


def roar_table(roar: pd.DataFrame, published: Mapping | None, scale: str) -> pd.DataFrame:
    """ROAR accuracies, mean and 95% interval over the seeds, with the published accuracy at the same
    method and fraction (or empty)."""
    pub = {}
    if published:
        for method, values in published["methods"].items():
            for f, v in zip(published["fractions"], values):
                pub[(method, float(f))] = v
    out = seed_summary(roar, ["run", "method", "fraction"], "accuracy")
    out["published_accuracy"] = [pub.get((m, f)) for m, f in zip(out["method"], out["fraction"])]
    out["scale"] = scale
    cols = ["method", "fraction", "accuracy", "accuracy_ci95", "n_seeds", "published_accuracy", "scale", "dataset",
            "seeds", "run"]
    return out[cols].sort_values(["run", "method", "fraction"]).reset_index(drop=True)


def published_roar_frame(published: Mapping | None) -> pd.DataFrame | None:
    if not published:
        return None
    rows = [{"method": m, "fraction": float(f), "accuracy": v, "source": published["source"]}
            for m, values in published["methods"].items() for f, v in zip(published["fractions"], values)]
    return pd.DataFrame(rows)


def perturbation_table(pert: pd.DataFrame, published: Sequence[Mapping] | None, scale: str) -> pd.DataFrame:
    """Mean LeRF |Δp|/p per (run, method, fraction in percent), the published value at 10% beside it."""
    df = pert[pert["order"] == "lerf"] if "order" in pert.columns else pert
    df = df.assign(fraction=np.where(df["fraction"] <= 1.0, df["fraction"] * 100.0, df["fraction"]).round(6))
    g = df.groupby(["run", "method", "fraction"])["rel_change"]
    out = g.agg(mean_rel_change="mean", sem="sem", n="count").reset_index()
    pub = {(p["method"]): p for p in (published or [])}
    out["published"] = [pub[m]["value"] if m in pub and abs(f - 10.0) < 1e-6 else None
                        for m, f in zip(out["method"], out["fraction"])]
    out["source"] = [pub[m]["source"] if m in pub and abs(f - 10.0) < 1e-6 else ""
                     for m, f in zip(out["method"], out["fraction"])]
    out["scale"] = scale
    return out[["method", "fraction", "mean_rel_change", "published", "scale", "sem", "n", "source", "run"]]


# ---------------------------------------------------------------- pathway statistics

def statistics_table(response: pd.DataFrame, overlap: pd.DataFrame) -> pd.DataFrame:
    """Per run and selector: dead-neuron fraction, kept share, response change, prediction kept, Jaccard overlaps."""
    keys = ["run", "selector"]
    g = response.groupby(keys, sort=False)
    table = g.agg(model=("model", "first"), dataset=("dataset", "first"), sparsity=("sparsity", "first"),
                  images=("image", "count"), dead_fraction=("dead_fraction", "mean"),
                  kept_fraction=("kept_fraction", "mean"), response_rel_change=("rel_change", "mean"),
                  response_rel_change_sem=("rel_change", "sem"), prediction_kept=("same_prediction", "mean"),
                  scale=("scale", "first"), seed=("seed", "first")).reset_index()
    ov = overlap.groupby(keys + ["same_class"], sort=False)["jaccard"].mean().unstack("same_class")
    ov = ov.rename(columns={True: "jaccard_same_class", False: "jaccard_other_class"}).reset_index()
    for col in ("jaccard_same_class", "jaccard_other_class"):
        if col not in ov.columns:
            ov[col] = np.nan
    table = table.merge(ov[keys + ["jaccard_same_class", "jaccard_other_class"]], on=keys, how="left")
    table["selector"] = table["selector"].map(lambda s: SELECTOR_LABELS.get(s, s))
    return table


def plot_statistics(response: pd.DataFrame, overlap: pd.DataFrame, path: Path) -> Path:
    """Left: the masked network's |Δp|/p per selector (log scale); right: Jaccard overlaps within / across classes."""
    resp = response.assign(selector=response["selector"].map(lambda s: SELECTOR_LABELS.get(s, s)),
                           rel=response["rel_change"].clip(lower=1e-6))
    ov = overlap.assign(selector=overlap["selector"].map(lambda s: SELECTOR_LABELS.get(s, s)),
                        pair=np.where(overlap["same_class"], "same class", "different classes"))
    fig = Figure(figsize=(13, 4.6))
    ax1, ax2 = fig.subplots(1, 2)
    with warnings.catch_warnings():  # seaborn 0.13 passes matplotlib's deprecated `vert` to bxp
        warnings.simplefilter("ignore", MatplotlibDeprecationWarning)
        sns.boxplot(data=resp, x="selector", y="rel", hue="run", ax=ax1, fliersize=2)
    ax1.set_yscale("log")
    ax1.set_ylabel("|p_masked - p| / p of the target class (lower: response kept)")
    ax1.set_xlabel("pathway selection")
    ax1.set_title(f"Masked network's response at sparsity {fmt(float(response['sparsity'].iloc[0]))}%")
    ax1.tick_params(axis="x", labelrotation=25)
    sns.barplot(seed=0, data=ov, x="selector", y="jaccard", hue="pair", ax=ax2, errorbar=("ci", 95))
    ax2.set_ylabel("Jaccard overlap of two inputs' pathways")
    ax2.set_xlabel("pathway selection")
    ax2.set_title("Pathway overlap across inputs (all runs)")
    ax2.tick_params(axis="x", labelrotation=25)
    fig.tight_layout()
    return _save(fig, path)


def plot_sweep(images, maps: Mapping[str, object], path, *, title: str) -> Path:
    """Maps of a few images (rows) at every sparsity (columns)."""
    from attriflow.reporting.figures import plot_map_grid

    return plot_map_grid(images, maps, path, title=title)


def plot_sweep_scores(sweep: pd.DataFrame, path: Path) -> Path:
    """LeRF score, response change and similarity to the gradient against sparsity, one line per run."""
    fig = Figure(figsize=(14, 4.2))
    axes = fig.subplots(1, 3)
    for ax, (col, label) in zip(axes, [("lerf_rel_change_10", "LeRF |Δp|/p at 10% removed (lower is better)"),
                                        ("response_rel_change", "masked network |Δp|/p"),
                                        ("spearman_abs_to_gradient", "Spearman(|map|, |gradient|)")]):
        sns.lineplot(seed=0, data=sweep, x="sparsity", y=col, hue="run", style="method", marker="o", errorbar=("ci", 95), ax=ax)
        ax.set_xlabel("sparsity (% neurons removed; 0 = gradient)")
        ax.set_ylabel(label)
    fig.suptitle("Pathway gradient over sparsity")
    fig.tight_layout()
    return _save(fig, path)


def plot_decoding(images, decoded: Mapping[str, object], path, *, row_labels: Sequence[str], sparsity: float) -> Path:
    """Each row: the input, then the image decoded from its pathway and from a random pathway of the same size."""
    imgs = np.asarray(images, dtype=np.float64)
    cols = 1 + len(decoded)
    fig = Figure(figsize=(2.3 * cols, 2.3 * len(imgs) + 0.6))
    axes = fig.subplots(len(imgs), cols, squeeze=False)
    panels = {"input": imgs, **{k: np.asarray(v, dtype=np.float64) for k, v in decoded.items()}}
    for i in range(len(imgs)):
        for j, (name, arr) in enumerate(panels.items()):
            a = np.clip(arr[i].transpose(1, 2, 0), 0, 1)
            axes[i, j].imshow(a[..., 0] if a.shape[2] == 1 else a, cmap="gray" if a.shape[2] == 1 else None)
            axes[i, j].set_xticks([]), axes[i, j].set_yticks([])
            if i == 0:
                axes[i, j].set_title(name, fontsize=9)
        axes[i, 0].set_ylabel(row_labels[i], fontsize=8)
    fig.suptitle(f"Pathway decoding: inputs that excite the kept neurons of the last layers (sparsity {sparsity:g}%)")
    fig.tight_layout()
    return _save(fig, path)


# ---------------------------------------------------------------- shared evaluation outputs

def evaluation_outputs(inputs: Mapping[str, Sequence[str]], out_dir: Path, scale: str, claims: Claims,
                       published: Mapping, what: str) -> dict[str, pd.DataFrame]:
    """ROAR, pixel perturbation and sanity-check tables / figures shared by both papers, with their claims."""
    tables, figures = out_dir / "tables", out_dir / "figures"
    out: dict[str, pd.DataFrame] = {}
    if inputs.get("roar"):
        roar = roar_results(inputs["roar"])
        pub = published.get("roar_accuracy")
        table = roar_table(roar, pub, scale)
        write_table(table, tables / "roar.csv", title=f"{what}: ROAR test accuracy (%)",
                    note="Retrained from scratch after removing the top fraction of pixels; lower is better. Fraction 0 is one "
                    "model per seed retrained on the unmodified data with the same budget, shared by every method. "
                    "accuracy: mean over the seeds; accuracy_ci95: half-width of its 95% t-interval (empty for one seed). "
                    "published_accuracy: " + (pub["source"] if pub else "none recorded for this paper") + ".")
        run = table["run"].iloc[0]
        plot_roar(roar, figures / "roar.png", published=published_roar_frame(pub),
                  baseline=unmodified_accuracy(inputs.get("models", []), run),
                  title=f"ROAR on {run} ({scale}) beside the published CIFAR-10 ResNet8 curves")
        out["roar"] = table
        ours = [m for m in OURS if m in set(table["method"])]
        for m in ours:
            for ref in [r for r in REFERENCES + ("random",) if r in set(table["method"])]:
                a = roar[(roar["method"] == m) & (roar["fraction"] > 0)]
                b = roar[(roar["method"] == ref) & (roar["fraction"] > 0)]
                joined = a.merge(b, on=["fraction", "seed"], suffixes=("", "_ref"))  # paired: same fraction and seed
                if joined.empty:
                    continue
                diff = joined["accuracy"] - joined["accuracy_ref"]
                d, se = mean_sem(diff)
                pub_txt = ""
                if pub and m in pub["methods"] and ref in pub["methods"]:
                    pdiff = np.mean(np.array(pub["methods"][m]) - np.array(pub["methods"][ref]))
                    pub_txt = f"{pdiff:+.2f} points (mean over 10-90%)"
                claims.add(f"ROAR: {m} removes more class information than {ref} (lower retrained accuracy)",
                           f"mean accuracy difference {m} - {ref} over fractions {sorted(set(joined['fraction']))} "
                           f"and seeds {sorted(set(joined['seed']))} (points)",
                           f"{d:+.2f} ± {se:.2f}", verdict(d, se, 0.0, 0.0), pub_txt, pub["source"] if pub_txt else "")
    if inputs.get("perturbation"):
        pert = _read_csvs(inputs["perturbation"], entry_from_name=True, run_from_parent=True)
        table = perturbation_table(pert, published.get("pixel_perturbation_10pct"), scale)
        write_table(table.drop(columns=["run"]) if table["run"].nunique() == 1 else table, tables / "pixel_perturbation.csv",
                    title=f"{what}: pixel perturbation, least relevant first (LeRF)",
                    note="Mean relative change |Δp|/p of the target class's probability after removing the given % of "
                    "least relevant pixels (mean colour); lower is better. Published: 2000 ImageNet images, ResNet50.")
        lerf = pert[pert["order"] == "lerf"] if "order" in pert.columns else pert
        lerf = lerf[lerf["fraction"] <= 0.1 + 1e-9] if lerf["fraction"].max() <= 1 else lerf[lerf["fraction"] <= 10]
        plot_perturbation(lerf, figures / "pixel_perturbation.png",
                          title=f"Pixel perturbation 1..10% ({', '.join(sorted(pert['run'].unique()))}, {scale})")
        out["perturbation"] = table
        at10 = table[(table["fraction"] - 10.0).abs() < 1e-6]
        pubs = {p["method"]: p for p in published.get("pixel_perturbation_10pct", [])}
        for m in [m for m in OURS if m in set(at10["method"])]:
            a = at10[at10["method"] == m].iloc[0]
            for ref in [r for r in REFERENCES if r in set(at10["method"])]:
                b = at10[at10["method"] == ref].iloc[0]
                pub_txt = (f"{pubs[m]['value']} vs {pubs[ref]['value']}" if m in pubs and ref in pubs else "")
                claims.add(f"Pixel perturbation (LeRF 10%): {m} changes the prediction less than {ref}",
                           f"mean |Δp|/p at 10%, {m} vs {ref}",
                           f"{fmt(a['mean_rel_change'])} vs {fmt(b['mean_rel_change'])}",
                           verdict(a["mean_rel_change"], a["sem"], b["mean_rel_change"], b["sem"]), pub_txt,
                           pubs[m]["source"] if pub_txt else "")
    if inputs.get("randomisation"):
        rnd = _read_csvs(inputs["randomisation"], entry_from_name=True, run_from_parent=True)
        for run, part in rnd.groupby("run"):
            plot_randomisation(part, figures / f"sanity_checks_{run}.png",
                               title=f"Cascading randomisation, {run} ({scale})")
        last = rnd[rnd["stage"] == rnd["stage"].max()]
        summary = last.groupby(["run", "method", "measure"])["value"].agg(["mean", "sem"]).reset_index()
        write_table(summary.rename(columns={"mean": "similarity_fully_randomised", "sem": "sem"}),
                    tables / "sanity_checks.csv", title=f"{what}: similarity to the original map with every stage randomised",
                    note="Lower means the map depends on the learned weights (passes the sanity check).")
        out["randomisation"] = summary
        for m in [m for m in OURS if m in set(summary["method"])]:
            s = summary[(summary["method"] == m) & (summary["measure"] == "ssim")]
            if s.empty:
                continue
            v, se = float(s["mean"].mean()), float(s["sem"].mean())
            claims.add(f"Sanity check: {m} maps change when the weights are randomised (SSIM to the original well below 1)",
                       "mean SSIM to the original map, all stages randomised", f"{fmt(v)} ± {fmt(se)}",
                       verdict(v, se, 0.5, 0.0))
            if "guided_backprop" in set(summary["method"]):
                g = summary[(summary["method"] == "guided_backprop") & (summary["measure"] == "ssim")]
                claims.add(f"Sanity check: {m} is more sensitive to randomisation than guided backprop",
                           "mean SSIM, all stages randomised, ours vs guided_backprop",
                           f"{fmt(v)} vs {fmt(float(g['mean'].mean()))}",
                           verdict(v, se, float(g["mean"].mean()), float(g["sem"].mean())))
    return out


# ---------------------------------------------------------------- the report

def build_report(inputs: Mapping[str, Sequence[str]], out_dir: Path, scale: str) -> None:
    """Every table and figure of the pathways paper, summary.md and claims.csv."""
    from attriflow.reporting.published import published

    out_dir = Path(out_dir)
    claims = Claims("pathways", scale)
    if not inputs.get("response") or not inputs.get("overlap"):
        raise UserError("pathways report: inputs need 'response' and 'overlap' files (attriflow pathways statistics)")
    response = _read_csvs(inputs["response"])
    overlap = _read_csvs(inputs["overlap"])
    table = statistics_table(response, overlap)
    write_table(table, out_dir / "tables" / "pathway_statistics.csv", title="pathways: pathway statistics",
                note="Per run and selection: share of inactive neurons, share kept, the masked network's |Δp|/p and "
                "kept prediction, and the Jaccard overlap of two inputs' pathways (same / different predicted class).")
    plot_statistics(response, overlap, out_dir / "figures" / "pathway_statistics.png")
    s = float(response["sparsity"].iloc[0])
    d, dse = mean_sem(response.drop_duplicates(["run", "image"])["dead_fraction"])
    claims.add("Most neurons (more than half) are inactive (dead) for any one input", "mean dead-neuron fraction",
               f"{fmt(d)} ± {fmt(dse)}", verdict(0.5, 0.0, d, dse))
    for run, part in response.groupby("run"):
        mct, rnd = part[part["selector"] == "mct"], part[part["selector"] == "random"]
        if not mct.empty and not rnd.empty:
            a, ase = mean_sem(mct["rel_change"])
            b, bse = mean_sem(rnd["rel_change"])
            claims.add(f"{run}: a contribution-selected pathway keeping {100 - s:g}% of neurons preserves the response "
                       "better than random pruning at equal sparsity", "mean |Δp|/p, NeuronMCT vs random",
                       f"{fmt(a)} vs {fmt(b)}", verdict(a, ase, b, bse))
        ig = part[part["selector"] == "intgrad"]
        for gate in ("dgr", "cdrp", "greedy"):
            gp = part[part["selector"] == gate]
            if ig.empty or gp.empty:
                continue
            n = len(gp)
            a, ase = mean_sem(ig["rel_change"].iloc[:n])
            b, bse = mean_sem(gp["rel_change"])
            claims.add(f"{run}: NeuronIntGrad pathways preserve the response at least as well as {SELECTOR_LABELS[gate]}",
                       f"mean |Δp|/p on the first {n} images, NeuronIntGrad vs {gate}", f"{fmt(a)} vs {fmt(b)}",
                       "no" if verdict(b, bse, a, ase) == "yes" else ("yes" if verdict(a, ase, b, bse) == "yes" else "not at this scale"))
    for run, part in overlap[overlap["selector"] == "mct"].groupby("run"):
        a, ase = mean_sem(part.loc[~part["same_class"], "jaccard"])
        b, bse = mean_sem(part.loc[part["same_class"], "jaccard"])
        claims.add(f"{run}: pathways of inputs of the same class overlap more than of different classes",
                   "mean Jaccard, different vs same class (NeuronMCT)", f"{fmt(a)} vs {fmt(b)}", verdict(a, ase, b, bse))
    if inputs.get("sweep"):
        sweep = _read_csvs(inputs["sweep"])
        summary = sweep.groupby(["run", "method", "sparsity"]).mean(numeric_only=True).reset_index().drop(columns=["image", "seed"], errors="ignore")
        summary["scale"] = scale
        write_table(summary, out_dir / "tables" / "sparsity_sweep.csv", title="pathways: pathway gradient over sparsity",
                    note="Means over images. sparsity 0 is the plain gradient.")
        plot_sweep_scores(sweep, out_dir / "figures" / "sparsity_sweep_scores.png")
        for run, part in sweep.groupby("run"):
            a, ase = mean_sem(part.loc[part["sparsity"] == 90, "lerf_rel_change_10"])
            b, bse = mean_sem(part.loc[part["sparsity"] == 0, "lerf_rel_change_10"])
            if not np.isnan(a):
                claims.add(f"{run}: pruning to the pathway (s=90) improves the map's LeRF score over the plain gradient (s=0)",
                           "mean LeRF |Δp|/p at 10%, s=90 vs s=0", f"{fmt(a)} vs {fmt(b)}", verdict(a, ase, b, bse))
    evaluation_outputs(inputs, out_dir, scale, claims, published().get("pathways") or {}, "pathways")
    claims.note("Published numbers for the pathways paper are not recorded in published.yaml (its results are figures); "
                "the claims above are the paper's qualitative statements checked on our numbers.")
    claims.note("Demo scale: shape scenes (64 px) and small VGG / ResNet models instead of ImageNet VGG16 / ResNet50, "
                "CIFAR-10 ResNet8 and Birdsnap; learned gates run fewer SGD steps on a handful of images "
                "(see docs/deviations.md).")
    claims.write(out_dir, "Critical pathways (Khakzar et al., CVPR 2021)",
                 f"Pathways at sparsity {s:g}% on {', '.join(sorted(response['run'].unique()))}.")


__all__ = ["build_report", "evaluation_outputs", "perturbation_table", "plot_decoding", "plot_statistics",
           "plot_sweep", "plot_sweep_scores", "roar_results", "roar_table", "statistics_table"]
