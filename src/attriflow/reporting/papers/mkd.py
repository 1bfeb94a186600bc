"""The mkd report: detection, localisation and ablation tables, figures, summary and claims.

Reads the folders ``attriflow anomaly run`` wrote (``results/mkd/<dataset>/<variant>/seed<k>/``) and
writes under ``reports/mkd/``: ``tables/{detection,localization,ablation,claims}.csv`` (+ .md),
``figures/{detection_auroc,score_histograms,roc_curves,localization_maps}.png`` and ``summary.md``.
AUROCs are shown in percent, like the paper's; with several seeds, as the mean over seeds and the
half-width of its 95% interval (``*_ci95``). Which published number sits beside which row is decided
here (:data:`PUBLISHED`): our digits and textures are stand-ins for MNIST and MVTec AD, and the
row's ``source`` says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402

from attriflow.errors import UserError  # noqa: E402
from attriflow.reporting.figures import _save, plot_map_grid  # noqa: E402
from attriflow.reporting.published import published  # noqa: E402
from attriflow.reporting.tables import seed_summary, write_table  # noqa: E402
from attriflow.utils.io import atomic_write_text  # noqa: E402

PAPER = "Salehi et al. CVPR 2021 (MKD)"
DETECTION_THRESHOLD = 80.0  # mean AUROC (%) we call "detects": well above chance (50)
STAND_IN = {"digits": "MNIST", "textures": "MVTec AD"}
REAL = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10", "mvtec-ad": "MVTec AD"}
ABLATION_CLAIMS = {
    "last_layer": "multi-layer distillation (stages 2..5) detects better than distilling the last stage only",
    "without_dir": "adding L_dir to L_val detects better than L_val alone",
}


def _published_detection(dataset: str) -> tuple[float | None, str]:
    """The published mean detection AUROC (%) comparable to ``dataset``, and its source."""
    pub = published()["mkd"]
    name = REAL.get(dataset) or STAND_IN.get(dataset)
    if name is None:
        return None, ""
    note = "" if dataset in REAL else f" (ours: {dataset}, a stand-in for {name})"
    if name == "MVTec AD":
        row = pub["mvtec_detection_auroc_mean"][0]
        return row["value"], row["source"] + note
    for row in pub["one_class_auroc_mean"]:
        if row["dataset"] == name:
            return row["value"], row["source"] + note
    return None, ""


def _published_localisation(dataset: str) -> tuple[float | None, str]:
    if (REAL.get(dataset) or STAND_IN.get(dataset)) != "MVTec AD":
        return None, ""
    row = published()["mkd"]["mvtec_localisation_auroc_mean"][0]
    note = "" if dataset in REAL else f" (ours: {dataset}, a stand-in for MVTec AD)"
    return row["value"], row["source"] + note


def _read(folders: Sequence[str | Path], name: str) -> pd.DataFrame:
    frames = []
    for f in folders:
        path = Path(f) / name
        if not path.is_file():
            raise UserError(f"{path} is missing: run `attriflow anomaly run --out {f}` first")
        try:
            frames.append(pd.read_csv(path, keep_default_na=False, na_values=[""], dtype={"class": str, "category": str}))
        except pd.errors.EmptyDataError:
            continue
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _over_seeds(df: pd.DataFrame, keys: list[str], unit: str, value: str) -> pd.DataFrame:
    """Rows per ``keys + [unit]`` and the ``unit`` = 'mean' rows (mean over units per seed), each as
    the mean over seeds with its 95% interval (``<value>_ci95``), ``n_seeds`` and ``seeds``."""
    per_unit = seed_summary(df[keys + [unit, value, "seed"]], keys + [unit], value)
    per_seed = df.groupby(keys + ["seed"], sort=False)[value].mean().reset_index()
    means = seed_summary(per_seed, keys, value).assign(**{unit: "mean"})
    return pd.concat([per_unit, means[per_unit.columns]], ignore_index=True)


def detection_table(det: pd.DataFrame, scale: str) -> pd.DataFrame:
    """Per class and the mean per (dataset, method, protocol), each the mean over seeds with its 95%
    interval; published means beside ours."""
    det = det.assign(auroc=det["auroc"] * 100.0)
    rows = _over_seeds(det, ["dataset", "method", "protocol"], "class", "auroc")
    pub = rows.apply(lambda r: _published_detection(r["dataset"]) if r["class"] == "mean" and r["method"] == "mkd"
                     else (None, ""), axis=1)
    rows["published_auroc"] = [p[0] for p in pub]
    rows["source"] = [p[1] for p in pub]
    rows["scale"] = scale
    return rows[["dataset", "class", "method", "protocol", "auroc", "auroc_ci95", "n_seeds", "published_auroc", "source",
                 "scale", "seeds"]]


def localisation_table(loc: pd.DataFrame, scale: str) -> pd.DataFrame:
    if loc.empty:
        return pd.DataFrame(columns=["dataset", "method", "protocol", "category", "pixel_auroc", "pixel_auroc_ci95",
                                     "n_seeds", "seeds", "published", "source", "scale"])
    loc = loc.assign(pixel_auroc=loc["pixel_auroc"] * 100.0)
    rows = _over_seeds(loc, ["dataset", "method", "protocol"], "category", "pixel_auroc")
    pub = rows.apply(lambda r: _published_localisation(r["dataset"]) if r["category"] == "mean" and r["method"] == "gradient"
                     else (None, ""), axis=1)
    rows["published"] = [p[0] for p in pub]
    rows["source"] = [p[1] for p in pub]
    rows["scale"] = scale
    return rows


def ablation_table(main: pd.DataFrame, ablations: pd.DataFrame, scale: str) -> pd.DataFrame:
    """Mean AUROC (%) of every loss variant per dataset and protocol, and its difference to main
    (main at the ablations' seeds only, so the difference is paired)."""
    main = main[main["dataset"].isin(ablations["dataset"].unique()) & main["seed"].isin(ablations["seed"].unique())]
    det = pd.concat([main, ablations], ignore_index=True)
    det = det[det["method"] == "mkd"]
    keys = ["dataset", "variant", "protocol"]
    out = det.groupby(keys, sort=False).agg(
        stages=("stages", "first"), lam=("lambda", "first"), lambda_on=("lambda_on", "first"),
        use_dir=("use_dir", "first"), epochs=("epochs", "first"), classes=("class", "nunique"),
        mean_auroc=("auroc", lambda v: 100.0 * v.mean()), seed=("seed", "first")).reset_index()
    base = out[out["variant"] == "main"].set_index(["dataset", "protocol"])["mean_auroc"]
    out["delta_vs_main"] = [r.mean_auroc - base.get((r.dataset, r.protocol), np.nan) for r in out.itertuples()]
    out["scale"] = scale
    return out.rename(columns={"lam": "lambda"})


def plot_detection_auroc(det_t: pd.DataFrame, path) -> Path:
    """Mean detection AUROC (%) per dataset and method (corrected protocol) from the detection table's
    'mean' rows (:func:`detection_table`), error bars their 95% interval over seeds; the published
    mean as a black tick where the paper gives one."""
    means = det_t[(det_t["protocol"] == "corrected") & (det_t["class"] == "mean")].set_index(["dataset", "method"])
    datasets = list(dict.fromkeys(means.index.get_level_values("dataset")))
    methods = list(dict.fromkeys(means.index.get_level_values("method")))
    n = int(means["n_seeds"].max())
    fig = Figure(figsize=(max(6.0, 1.2 + 1.3 * len(datasets) * max(1, len(methods)) / 2), 4.2))
    ax = fig.subplots()
    width = 0.8 / len(methods)
    colours = dict(zip(methods, sns.color_palette(n_colors=len(methods))))
    for j, method in enumerate(methods):
        rows = means.reindex([(ds, method) for ds in datasets])
        x = np.arange(len(datasets)) + (j - (len(methods) - 1) / 2) * width
        halves = rows["auroc_ci95"].to_numpy(dtype=float)
        ax.bar(x, rows["auroc"].to_numpy(dtype=float), width, color=colours[method], label=method,
               yerr=None if np.isnan(halves).all() else np.nan_to_num(halves), capsize=3)
    labelled = False
    for i, ds in enumerate(datasets):
        pub, _ = _published_detection(ds)
        if pub is not None:
            ax.hlines(pub, i - 0.45, i + 0.45, color="black", lw=2, label=None if labelled else "published (MKD)")
            labelled = True
    ax.axhline(50, color="grey", ls=":", lw=1, label="chance")
    ax.set_xticks(np.arange(len(datasets)), datasets)
    ax.set_ylabel("mean detection AUROC (%)")
    ax.set_ylim(0, 100)
    seeds = f"mean and 95% interval over {n} seeds" if n > 1 else "one seed: no interval"
    ax.set_title(f"One-class detection, corrected protocol ({seeds})", fontsize=10)
    handles, labels = ax.get_legend_handles_labels()
    uniq = dict(zip(labels, handles))
    ax.legend(uniq.values(), uniq.keys(), fontsize=8, loc="lower right")
    fig.tight_layout()
    return _save(fig, path)


def _normalised_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """Scores as z-values against the normal test images of the same (dataset, class, method)."""
    def z(g):
        normal = g.loc[g["label"] == 0, "score"]
        sd = normal.std() if len(normal) > 1 and normal.std() > 0 else 1.0
        return (g["score"] - normal.mean()) / sd

    scores = scores.copy()
    keys = ["dataset", "class", "method"] + (["seed"] if "seed" in scores.columns else [])  # one cloner each
    scores["z"] = scores.groupby(keys, group_keys=False)[["score", "label"]].apply(z)
    scores["kind"] = np.where(scores["label"] == 1, "anomalous", "normal")
    return scores


def plot_score_histograms(scores: pd.DataFrame, path) -> Path:
    s = _normalised_scores(scores[scores["method"] == "mkd"])
    datasets = list(dict.fromkeys(s["dataset"]))
    fig = Figure(figsize=(5.0 * len(datasets), 3.8))
    axes = fig.subplots(1, len(datasets), squeeze=False)[0]
    for ax, ds in zip(axes, datasets):
        d = s[s["dataset"] == ds]
        hi = np.percentile(d["z"], 99)
        sns.histplot(data=d[d["z"] <= hi], x="z", hue="kind", hue_order=["normal", "anomalous"], stat="density",
                     common_norm=False, element="step", bins=40, ax=ax)
        ax.set_xlabel("MKD score (z against its class's normal test images)")
        ax.set_title(f"{ds}: {d['class'].nunique()} one-class problems")
    fig.suptitle("Anomaly scores (distillation loss), normal vs anomalous test images")
    return _save(fig, path)


def plot_roc_curves(scores: pd.DataFrame, path) -> Path:
    """Per dataset: ROC of every method averaged over its one-class problems (vertical averaging)."""
    grid = np.linspace(0, 1, 101)
    rows = []
    keys = ["dataset", "method", "class"] + (["seed"] if "seed" in scores.columns else [])  # one cloner each
    for (ds, method, cls, *_), g in scores.groupby(keys, sort=False):
        if g["label"].nunique() < 2:
            continue
        fpr, tpr, _ = roc_curve(g["label"], g["score"])
        rows += [{"dataset": ds, "method": method, "class": cls, "fpr": f, "tpr": t}
                 for f, t in zip(grid, np.interp(grid, fpr, tpr))]
    curves = pd.DataFrame(rows)
    datasets = list(dict.fromkeys(curves["dataset"]))
    fig = Figure(figsize=(4.6 * len(datasets), 4.2))
    axes = fig.subplots(1, len(datasets), squeeze=False)[0]
    for ax, ds in zip(axes, datasets):
        d = curves[curves["dataset"] == ds]
        sns.lineplot(seed=0, data=d, x="fpr", y="tpr", hue="method", errorbar=("pi", 50), ax=ax)
        ax.plot([0, 1], [0, 1], ls=":", color="grey", label="chance")
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.set_title(f"{ds}\nmean over classes and seeds, band: middle 50%", fontsize=10)
        ax.legend(loc="lower right", fontsize=8)
    fig.suptitle("ROC curves: MKD vs kNN on the expert's features")
    return _save(fig, path)


def plot_localisation_maps(examples: Path, path, rows: int = 8) -> Path:
    with np.load(examples, allow_pickle=False) as z:
        classes = z["classes"]
        first = [int(np.flatnonzero(classes == c)[0]) for c in dict.fromkeys(classes.tolist())][:rows]
        maps = {str(m): z[f"map_{m}"][first] for m in z["methods"]}
        return plot_map_grid(z["images"][first], maps, path, row_labels=[str(classes[i]) for i in first],
                             masks=z["masks"][first], title="Loss-gradient localisation (green: true defect)")


def _blank_missing(df: pd.DataFrame, column: str) -> pd.DataFrame:
    """``column`` with missing published numbers as empty cells (not 'nan') in CSV and Markdown."""
    df = df.copy()
    df[column] = df[column].astype(object).where(df[column].notna(), None)
    return df


def _has_examples(path: Path) -> bool:
    if not path.is_file():
        return False
    with np.load(path, allow_pickle=False) as z:
        return len(z["classes"]) > 0


def _holds(ok: bool, scale: str) -> str:
    return "yes" if ok else ("no" if scale == "paper" else "not at this scale")


def claims_table(det_t: pd.DataFrame, loc_t: pd.DataFrame, abl_t: pd.DataFrame, scale: str) -> pd.DataFrame:
    rows = []
    means = det_t[(det_t["class"] == "mean") & (det_t["protocol"] == "corrected")]
    for ds in dict.fromkeys(means["dataset"]):
        m = means[(means["dataset"] == ds) & (means["method"] == "mkd")].iloc[0]
        pub = m["published_auroc"]
        rows.append({"claim": f"distilling the expert detects one-class anomalies ({ds}; mean AUROC >= {DETECTION_THRESHOLD:.0f}%)",
                     "measure": f"mean detection AUROC % over {ds} classes (corrected protocol)", "ours": round(m["auroc"], 2),
                     "published": pub, "source": m["source"] or "arXiv 2011.11108: not recorded",
                     "holds": _holds(m["auroc"] >= DETECTION_THRESHOLD, scale)})
        knn = means[(means["dataset"] == ds) & (means["method"].str.startswith("knn"))]
        if len(knn):
            k = knn.iloc[0]
            rows.append({"claim": f"distillation adds to the expert's features ({ds}; MKD above the kNN baseline, DN2)",
                         "measure": f"mean AUROC % MKD minus {k['method']}", "ours": round(m["auroc"] - k["auroc"], 2),
                         "published": None, "source": "our baseline on the same expert and data (Bergman et al. 2020)",
                         "holds": _holds(m["auroc"] > k["auroc"], scale)})
    lmeans = loc_t[(loc_t["category"] == "mean") & (loc_t["protocol"] == "paper")]
    for r in lmeans.itertuples():
        pub, src = _published_localisation(r.dataset)
        rows.append({"claim": f"the {r.method} of the loss localises defects ({r.dataset}; pixel AUROC >= {DETECTION_THRESHOLD:.0f}%)",
                     "measure": "mean pixel AUROC % (paper protocol: defective images only)", "ours": round(r.pixel_auroc, 2),
                     "published": pub if r.method == "gradient" else None, "source": src if r.method == "gradient" else "",
                     "holds": _holds(r.pixel_auroc >= DETECTION_THRESHOLD, scale)})
    ab = abl_t[abl_t["protocol"] == "corrected"]
    for variant, claim in ABLATION_CLAIMS.items():
        for r in ab[ab["variant"] == variant].itertuples():
            rows.append({"claim": f"{claim} ({r.dataset})", "measure": f"mean AUROC % main minus {variant}",
                         "ours": round(-r.delta_vs_main, 2), "published": None, "source": PAPER + ", ablation",
                         "holds": _holds(r.delta_vs_main < 0, scale)})
    out = pd.DataFrame(rows, columns=["claim", "measure", "ours", "published", "source", "holds"])
    out.insert(0, "paper", "mkd")
    out["scale"] = scale
    return out


def summary_text(det_t, loc_t, abl_t, claims, scale: str, seed: int) -> str:
    lines = [f"# mkd: multiresolution knowledge distillation ({scale} scale, seed {seed})", "",
             "Every number below was computed by this run; published numbers are quoted with their source.", ""]
    m = det_t[(det_t["class"] == "mean")]
    lines.append("## Detection (mean AUROC %, one-class protocol)")
    for (ds, method), g in m.groupby(["dataset", "method"], sort=False):
        parts = ", ".join(f"{r.protocol} protocol {r.auroc:.1f}" for r in g.itertuples())
        pub = g["published_auroc"].dropna()
        pub_text = f"; published {pub.iloc[0]:.2f} ({g['source'].iloc[0]})" if len(pub) else ""
        lines.append(f"- {ds}, {method}: {parts}{pub_text}.")
    lines += ["", "The paper protocol reports the best of the test AUROCs checked during training (the authors' loop "
              "evaluates on test every few epochs and nothing else selects a checkpoint); the corrected protocol "
              "reports the fixed final epoch.", ""]
    if not loc_t.empty:
        lines.append("## Localisation (mean pixel AUROC %)")
        lm = loc_t[loc_t["category"] == "mean"]
        for (ds, method), g in lm.groupby(["dataset", "method"], sort=False):
            parts = ", ".join(f"{r.protocol} protocol {r.pixel_auroc:.1f}" for r in g.itertuples())
            lines.append(f"- {ds}, {method}: {parts}.")
        lines += ["", "Paper protocol: maps normalised per image, defective test images only; corrected: one scale "
                  "for all maps and the normal test images' pixels counted as negatives.", ""]
    if not abl_t.empty:
        lines.append("## Ablations (mean AUROC %, corrected protocol)")
        for r in abl_t[abl_t["protocol"] == "corrected"].to_dict("records"):
            delta = "" if r["variant"] == "main" else f" ({r['delta_vs_main']:+.1f} vs main)"
            lines.append(f"- {r['dataset']}, {r['variant']} (stages {r['stages']}, lambda {r['lambda']} on L_{r['lambda_on']}, "
                         f"L_dir {'on' if r['use_dir'] in (True, 'True') else 'off'}): {r['mean_auroc']:.1f}{delta}.")
        lines.append("")
    lines.append("## Claims")
    for r in claims.itertuples():
        lines.append(f"- {r.claim}: ours {r.ours}; holds: {r.holds}.")
    if scale != "paper":
        lines += ["", f"At {scale} scale the expert is a narrow VGG16 pretrained on generated shapes and the data are "
                  "stand-ins (digits for MNIST, generated defect textures for MVTec AD); 'not at this scale' means "
                  "this run does not show the claim, not that the paper is wrong."]
    return "\n".join(lines) + "\n"


def build_report(main: Sequence[str | Path], ablations: Sequence[str | Path], out: str | Path, *,
                 scale: str, seed: int) -> list[str]:
    """Write every mkd table, figure and the summary under ``out``; returns printable headline lines."""
    out = Path(out)
    det = _read(main, "detection.csv")
    if det.empty:
        raise UserError(f"no detection results in {list(map(str, main))}")
    scores = _read(main, "scores.csv")
    loc = _read(main, "localization.csv")
    abl = _read(ablations, "detection.csv") if ablations else pd.DataFrame(columns=det.columns)
    det_t = detection_table(det, scale)
    loc_t = localisation_table(loc, scale)
    abl_t = ablation_table(det, abl, scale) if not abl.empty else pd.DataFrame(
        columns=["dataset", "variant", "protocol", "stages", "lambda", "lambda_on", "use_dir", "epochs", "classes",
                 "mean_auroc", "seed", "delta_vs_main", "scale"])
    claims = claims_table(det_t, loc_t, abl_t, scale)
    det_t, loc_t, claims = (_blank_missing(det_t, "published_auroc"), _blank_missing(loc_t, "published"),
                            _blank_missing(claims, "published"))
    tables = out / "tables"
    write_table(det_t, tables / "detection.csv", title="mkd: one-class detection AUROC (%)",
                note="Per class and the mean over classes ('mean' rows), each the mean over seeds; auroc_ci95: half-width "
                "of its 95% t-interval (empty for one seed); 'published_auroc' beside the mean where the paper gives one.")
    write_table(loc_t, tables / "localization.csv", title="mkd: localisation pixel AUROC (%)",
                note="Maps: |attribution of the loss|, Gaussian blur sigma 4, 3x3 opening.")
    write_table(abl_t, tables / "ablation.csv", title="mkd: ablations (mean detection AUROC %)",
                note="main = the run's loss; last_layer = stage 5 only; without_dir = L_val only; lambda_on_dir = the paper's placement.")
    write_table(claims, tables / "claims.csv", title="mkd: the paper's claims at this scale")
    figures = out / "figures"
    plot_detection_auroc(det_t, figures / "detection_auroc.png")
    plot_score_histograms(scores, figures / "score_histograms.png")
    plot_roc_curves(scores, figures / "roc_curves.png")
    examples = [Path(f) / "examples.npz" for f in main if _has_examples(Path(f) / "examples.npz")]
    if not examples:
        raise UserError(f"no localisation examples (examples.npz) in {list(map(str, main))}: a defects dataset "
                        "with localisation methods is needed for figures/localization_maps.png")
    plot_localisation_maps(examples[0], figures / "localization_maps.png")
    atomic_write_text(out / "summary.md", summary_text(det_t, loc_t, abl_t, claims, scale, seed))
    head = []
    for r in det_t[(det_t["class"] == "mean") & (det_t["method"] == "mkd")].itertuples():
        head.append(f"mean AUROC on {r.dataset} ({r.protocol} protocol): {r.auroc:.1f}%")
    for r in loc_t[loc_t["category"] == "mean"].itertuples():
        head.append(f"pixel AUROC of {r.method} on {r.dataset} ({r.protocol} protocol): {r.pixel_auroc:.1f}%")
    return head
