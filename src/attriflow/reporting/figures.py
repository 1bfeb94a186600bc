"""Figures of the evaluations (seaborn on matplotlib's Agg canvas, no pyplot state): each function
takes the long-format DataFrame an evaluation returns, writes one PNG atomically and returns its path.

- :func:`plot_randomisation`: similarity to the original map per randomisation stage, mean and spread.
- :func:`plot_perturbation`: relative probability change per removed fraction, LeRF and MoRF.
- :func:`plot_roar`: ROAR test accuracy per removed fraction, published curves dashed beside ours.
- :func:`plot_class_sensitivity`: box plots of the similarity of maps for different classes.
- :func:`plot_map_grid`: images with each method's map overlaid, methods as columns.
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
from attriflow.reporting.tables import mean_ci  # noqa: E402
from attriflow.utils.io import PathLike, atomic_path  # noqa: E402

DPI = 120
MEASURE_LABELS = {
    "ssim": "SSIM",
    "spearman": "Spearman rank correlation",
    "spearman_abs": "Spearman rank correlation (abs)",
    "hog": "HOG similarity (Pearson)",
}


def _require(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise UserError(f"{what}: the table lacks columns {missing} (has {list(df.columns)})")
    if df.empty:
        raise UserError(f"{what}: the table is empty")


def _save(fig: Figure, path: PathLike) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, bbox_inches="tight")
    return path


def _percent(values: pd.Series) -> pd.Series:
    """Values in 0..1 as percent; values already in percent unchanged."""
    return values * 100.0 if values.abs().max() <= 1.0 else values


def plot_randomisation(df: pd.DataFrame, path: PathLike, *, measures: Sequence[str] | None = None,
                       title: str = "Model parameter randomisation") -> Path:
    """One panel per similarity measure: mean similarity to the original map (line) and its
    standard deviation over images (band) for each method, stages top to bottom along x.
    ``df``: ``randomisation_test`` output (image, method, stage, layer, measure, value)."""
    _require(df, ["method", "stage", "layer", "measure", "value"], "plot_randomisation")
    if measures is None:  # the papers' order first, then any others as they come
        present = list(dict.fromkeys(df["measure"]))
        measures = [m for m in MEASURE_LABELS if m in present] + [m for m in present if m not in MEASURE_LABELS]
    measures = list(measures)
    stages = df[["stage", "layer"]].drop_duplicates().sort_values("stage")
    orders = list(dict.fromkeys(df["order"])) if "order" in df.columns else []
    xlabel = {"cascading": "randomised from the top down to stage", "independent": "stage randomised alone"}
    fig = Figure(figsize=(max(6.0, 0.35 * len(stages) + 3), 3.6 * len(measures)))
    axes = np.atleast_1d(fig.subplots(len(measures), 1, squeeze=False)[:, 0])
    for ax, measure in zip(axes, measures):
        part = df[df["measure"] == measure]
        if part.empty:
            raise UserError(f"plot_randomisation: no rows for measure {measure!r}")
        sns.lineplot(seed=0, data=part, x="stage", y="value", hue="method", style="order" if len(orders) > 1 else None,
                     errorbar="sd", marker="o", ax=ax)
        ax.set_xticks(stages["stage"].to_list())
        ax.set_xticklabels(stages["layer"].to_list(), rotation=60, ha="right", fontsize=8)
        ax.set_xlabel(xlabel.get(orders[0], "stage") if len(orders) == 1 else
                      "stage (cascading: randomised down to it; independent: it alone)")
        ax.set_ylabel(MEASURE_LABELS.get(measure, measure))
        ax.set_ylim(min(-0.2, float(part["value"].min()) - 0.05), 1.05)
        ax.axhline(0.0, color="grey", lw=0.8, ls=":")
        ax.legend(title="method" if len(orders) <= 1 else None, fontsize=8, loc="best")
    shown = " and ".join(o for o in orders if o.lower() not in title.lower())
    fig.suptitle(title + (f" ({shown})" if shown else ""))
    fig.tight_layout()
    return _save(fig, path)


def plot_perturbation(df: pd.DataFrame, path: PathLike, *, title: str = "Pixel perturbation") -> Path:
    """One panel per order (LeRF, MoRF): mean relative change |Δp|/p of the target probability
    (95% interval band) against the percentage of pixels removed, one line per method.
    ``df``: ``pixel_perturbation`` output (method, order, fraction, rel_change)."""
    _require(df, ["method", "order", "fraction", "rel_change"], "plot_perturbation")
    orders = list(dict.fromkeys(df["order"]))
    fig = Figure(figsize=(5.2 * len(orders), 4.0))
    axes = fig.subplots(1, len(orders), squeeze=False)[0]
    data = df.assign(percent=_percent(df["fraction"]))
    for ax, order in zip(axes, orders):
        sns.lineplot(seed=0, data=data[data["order"] == order], x="percent", y="rel_change", hue="method",
                     errorbar=("ci", 95), marker="o", ax=ax)
        ax.set_xlabel("pixels removed (%)")
        ax.set_ylabel("mean |Δp| / p of the target class")
        ax.set_title({"lerf": "least relevant first (LeRF), lower is better",
                      "morf": "most relevant first (MoRF), higher is better"}.get(order, order), fontsize=10)
        ax.legend(title="method", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_roar(df: pd.DataFrame, path: PathLike, *, published: pd.DataFrame | None = None,
              baseline: float | None = None, title: str = "ROAR: retrained test accuracy") -> Path:
    """Test accuracy against the percentage of pixels removed, one solid line per method (ours: the
    mean over repeated rows, e.g. seeds, with 95% t-interval error bars); ``published`` curves (columns method, fraction, accuracy,
    source) drawn dashed in the method's colour and labelled with their source. ``baseline``:
    the unmodified model's accuracy, a dotted line. Fractions and accuracies in 0..1 are shown as percent."""
    _require(df, ["method", "fraction", "accuracy"], "plot_roar")
    ours = df.assign(percent=_percent(df["fraction"]), acc=_percent(df["accuracy"]))
    methods = list(dict.fromkeys(ours["method"]))
    if published is not None:
        _require(published, ["method", "fraction", "accuracy", "source"], "plot_roar published")
        methods += [m for m in dict.fromkeys(published["method"]) if m not in methods]
    palette = dict(zip(methods, sns.color_palette(n_colors=len(methods))))
    fig = Figure(figsize=(7.5, 4.8))
    ax = fig.subplots()
    for method, part in ours.groupby("method", sort=False):
        points = sorted((p, *mean_ci(g["acc"])) for p, g in part.groupby("percent"))
        x, mean, half = (np.array(v, dtype=float) for v in zip(*points))
        n = part.groupby("percent").size().max()
        ax.errorbar(x, mean, yerr=np.nan_to_num(half), marker="o", capsize=3, color=palette[method],
                    label=method if n < 2 else f"{method} (mean, 95% CI, {n} seeds)")
    if published is not None:
        pub = published.assign(percent=_percent(published["fraction"]), acc=_percent(published["accuracy"]))
        for (method, source), part in pub.groupby(["method", "source"], sort=False):
            part = part.sort_values("percent")
            ax.plot(part["percent"], part["acc"], ls="--", marker="x", color=palette[method],
                    label=f"{method} (published: {source})")
    if baseline is not None:
        ax.axhline(float(_percent(pd.Series([baseline])).iloc[0]), color="black", ls=":", lw=1, label="unmodified")
    ax.set_xlabel("pixels removed (%)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return _save(fig, path)


def plot_class_sensitivity(df: pd.DataFrame, path: PathLike, *, measure: str = "ssim",
                           title: str = "Class sensitivity") -> Path:
    """Box plots per method of the similarity between the predicted class's map and the other
    class's map, one box per comparison (lowest-scoring, random class); lower is better.
    ``df``: ``class_sensitivity`` output (method, comparison, measure, value)."""
    _require(df, ["method", "comparison", "measure", "value"], "plot_class_sensitivity")
    part = df[df["measure"] == measure]
    if part.empty:
        raise UserError(f"plot_class_sensitivity: no rows for measure {measure!r}")
    methods = list(dict.fromkeys(part["method"]))
    fig = Figure(figsize=(max(6.0, 1.1 * len(methods) + 2), 4.2))
    ax = fig.subplots()
    with warnings.catch_warnings():  # seaborn 0.13 passes matplotlib's deprecated `vert` to bxp
        warnings.simplefilter("ignore", MatplotlibDeprecationWarning)
        sns.boxplot(data=part, x="method", y="value", hue="comparison", ax=ax)
    ax.set_xlabel("method")
    ax.set_ylabel(f"{MEASURE_LABELS.get(measure, measure)}: predicted vs other class")
    ax.set_title(f"{title} (lower = more class-sensitive)")
    ax.tick_params(axis="x", labelrotation=30)
    ax.legend(title="other class", fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def plot_map_grid(images, maps: Mapping[str, object], path: PathLike, *, row_labels: Sequence[str] | None = None,
                  alpha: float = 0.55, title: str = "Attribution maps", masks=None) -> Path:
    """A grid: one row per image, the image first, then each method's map (divided by its largest
    absolute value) overlaid on the grey image, red positive and blue negative; a colour bar.
    ``images``: (N, C, H, W) in [0, 1]; ``maps``: method -> (N, H, W); ``masks`` (N, H, W) bool,
    optional: the ground truth, outlined in every panel."""
    images = np.asarray(images.detach().cpu() if hasattr(images, "detach") else images, dtype=np.float64)
    if images.ndim != 4:
        raise UserError(f"plot_map_grid: images must be (N, C, H, W), got {images.shape}")
    if not maps:
        raise UserError("plot_map_grid: maps is empty")
    arrays = {}
    for method, m in maps.items():
        a = np.asarray(m.detach().cpu() if hasattr(m, "detach") else m, dtype=np.float64)
        a = a[:, 0] if a.ndim == 4 and a.shape[1] == 1 else a
        if a.shape != (images.shape[0], *images.shape[-2:]):
            raise UserError(f"plot_map_grid: maps of {method!r} are {a.shape}, expected {(images.shape[0], *images.shape[-2:])}")
        scale = np.abs(a).reshape(len(a), -1).max(1).reshape(-1, 1, 1)
        arrays[method] = a / np.where(scale > 0, scale, 1.0)
    n, cols = images.shape[0], len(arrays) + 1
    fig = Figure(figsize=(1.9 * cols + 0.8, 1.9 * n + 0.6))
    axes = fig.subplots(n, cols, squeeze=False)
    shown = None
    for i in range(n):
        rgb = np.clip(images[i].transpose(1, 2, 0), 0, 1)
        grey = rgb.mean(2)
        axes[i, 0].imshow(rgb[..., 0] if rgb.shape[2] == 1 else rgb, cmap="gray" if rgb.shape[2] == 1 else None)
        axes[i, 0].set_ylabel(row_labels[i] if row_labels else f"image {i}", fontsize=8)
        for j, (method, a) in enumerate(arrays.items(), start=1):
            axes[i, j].imshow(grey, cmap="gray")
            shown = axes[i, j].imshow(a[i], cmap="bwr", vmin=-1, vmax=1, alpha=alpha)
            if i == 0:
                axes[i, j].set_title(method, fontsize=9)
        if masks is not None and np.asarray(masks[i]).any():
            for ax in axes[i]:
                ax.contour(np.asarray(masks[i], dtype=float), levels=[0.5], colors="lime", linewidths=1.0)
    axes[0, 0].set_title("image", fontsize=9)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title)
    fig.colorbar(shown, ax=axes.ravel().tolist(), shrink=0.6, label="relevance / max |relevance|")
    return _save(fig, path)


__all__ = ["plot_class_sensitivity", "plot_map_grid", "plot_perturbation", "plot_randomisation", "plot_roar"]
