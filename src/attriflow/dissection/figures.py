"""Figures of dissection results (seaborn on matplotlib's Agg canvas, written atomically).

- :func:`plot_semantic_examples`: per image, the image with its labelled units' thresholded maps
  outlined in their concept's colour, beside the ranked bar chart of concept contributions.
- :func:`plot_concept_units`: units per concept, bars grouped by a comparison (init, loss, run),
  mean IoU written on each bar; with several training seeds the bars are means with 95% error bars.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from attriflow.reporting.figures import DPI, _save  # noqa: F401  (one PNG writer for every figure)
from attriflow.utils.io import PathLike


def _palette(concepts: Sequence[str]) -> dict[str, tuple]:
    colours = sns.color_palette("tab20", max(len(concepts), 1))
    return {c: colours[i % len(colours)] for i, c in enumerate(concepts)}


def plot_semantic_examples(explained: list, path: PathLike, *, title: str = "Semantic attribution",
                           top_units: int = 6, top_concepts: int = 8) -> Path:
    """``explained``: (image (C, H, W), :class:`SemanticAttribution`) pairs, one row each. Left: the
    image with the outlines of the ``top_units`` labelled units contributing most (thresholded
    maps); right: the ``top_concepts`` concepts by contribution (activation x gradient summed over
    their units), largest first."""
    concepts = sorted({c for _, e in explained for c in e.concepts["concept"]})
    colours = _palette(concepts)
    n = max(len(explained), 1)
    fig = Figure(figsize=(9.0, 3.0 * n + 0.5))
    axes = fig.subplots(n, 2, squeeze=False, gridspec_kw={"width_ratios": [1, 1.5]})
    for row, (image, e) in enumerate(explained):
        ax_img, ax_bar = axes[row]
        img = np.asarray(image.detach().cpu(), dtype=np.float64)
        ax_img.imshow(img.mean(0), cmap="gray", vmin=0, vmax=1)
        shown = e.units[e.units["contribution"] > 0].head(top_units)
        handles = {}
        for k, (_, u) in enumerate(shown.iterrows()):
            m = e.maps[e.units.index.get_loc(u.name)].numpy().astype(float)
            if m.shape != img.shape[-2:]:
                continue
            if m.any():  # a unit's map may stay below its (probe-wide) threshold on this image
                ax_img.contour(m, levels=[0.5], colors=[colours[u["concept"]]], linewidths=1.6)
                handles[u["concept"]] = Line2D([], [], color=colours[u["concept"]], lw=2, label=u["concept"])
        ax_img.set_xticks([]), ax_img.set_yticks([])
        ax_img.set_title(f"score {e.score:.2f} (output {e.target}); outlines: units above threshold", fontsize=8)
        if handles:
            ax_img.legend(handles=list(handles.values()), fontsize=7, loc="lower left", framealpha=0.7)
        bars = e.concepts.head(top_concepts)
        if bars.empty:
            ax_bar.text(0.5, 0.5, "no unit of this layer is labelled\nwith a concept (IoU threshold)",
                        ha="center", va="center", transform=ax_bar.transAxes)
            ax_bar.set_axis_off()
            continue
        sns.barplot(seed=0, data=bars, y="concept", x="contribution", hue="concept", palette=colours, legend=False, ax=ax_bar,
                    orient="h")
        for i, (_, b) in enumerate(bars.iterrows()):
            ax_bar.text(b["contribution"], i, f" {int(b['n_units'])} unit{'s' if b['n_units'] != 1 else ''}",
                        va="center", fontsize=7)
        ax_bar.axvline(0, color="black", lw=0.8)
        ax_bar.set_xlabel("contribution to the score (activation x gradient, summed)")
        ax_bar.set_ylabel("concept (ranked)")
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_concept_units(df: pd.DataFrame, path: PathLike, *, hue: str, title: str, order: Sequence[str] | None = None) -> Path:
    """Bars of ``n_units`` per ``concept``, grouped by ``hue`` (e.g. init or loss); the mean IoU of the
    units (IoU with the concept) is written above each bar. When ``df`` has ``n_seeds`` above 1 (a table of
    :func:`attriflow.reporting.tables.seed_summary`), each bar is the mean over seeds and its error bar
    the 95% interval ``n_units_ci95``; one seed: no error bars. A table without labelled units gives a
    figure that says so."""
    shown = df[df["n_units"] > 0]
    width = 0.35 * shown["concept"].nunique() * max(shown[hue].nunique(), 1) + 3
    fig = Figure(figsize=(min(max(6.0, width), 14.0), 4.5))
    ax = fig.subplots()
    if shown.empty:
        ax.text(0.5, 0.5, "no unit is labelled with a concept at this IoU threshold", ha="center", va="center",
                transform=ax.transAxes)
        ax.set_axis_off()
    else:
        order = [c for c in (order or list(dict.fromkeys(df["concept"]))) if c in set(shown["concept"])]
        hue_order = list(dict.fromkeys(shown[hue]))
        sns.barplot(seed=0, data=shown, x="concept", y="n_units", hue=hue, order=order, hue_order=hue_order,
                    errorbar=None, ax=ax)
        iou = shown.set_index(["concept", hue])["mean_iou"]
        n_seeds = int(shown["n_seeds"].max()) if "n_seeds" in shown and shown["n_seeds"].notna().any() else 1
        half = shown.set_index(["concept", hue])["n_units_ci95"] if n_seeds > 1 and "n_units_ci95" in shown else None
        for level, container in zip(hue_order, ax.containers):
            for bar in container:
                h = bar.get_height() if bar is not None else float("nan")
                if not np.isfinite(h) or h <= 0:
                    continue
                x = bar.get_x() + bar.get_width() / 2
                concept = order[int(round(x))]
                top = h
                if half is not None and (concept, level) in half.index and np.isfinite(half[(concept, level)]):
                    err = float(half[(concept, level)])
                    ax.errorbar([x], [h], yerr=[err], fmt="none", ecolor="black", capsize=2, lw=1)
                    top = h + err
                if (concept, level) in iou.index and np.isfinite(iou[(concept, level)]):
                    ax.text(x, top, f"{iou[(concept, level)]:.2f}", ha="center",
                            va="bottom", fontsize=6, rotation=90)
        ax.margins(y=0.15)
        ax.set_xlabel("concept")
        ax.set_ylabel("units labelled with the concept" if n_seeds < 2 else
                      f"units (mean, 95% interval, {n_seeds} seeds)")
        ax.tick_params(axis="x", rotation=35)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
        ax.legend(title=hue, fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    return _save(fig, path)
