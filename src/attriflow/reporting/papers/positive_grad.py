"""positive-grad (Khakzar et al. 2020): class sensitivity and cascading randomisation of the
positive-aggregation and positive-propagation variants, turned into the paper's tables, figures,
claims and summary.

Inputs are the generic evaluation files, one per (run, entry): ``results/eval/class_sensitivity/
<run>/<entry>.csv`` (``attriflow.evaluation.class_sensitivity`` rows) and ``results/eval/
randomisation/<run>/<entry>.csv`` (``attriflow.evaluation.randomisation`` rows); an entry is a key
of config ``attribution.methods`` (a registered method, or an alias ``{method: ..., <switch>: ...}``).
:func:`describe` names each entry's method, variant and whether it aggregates or propagates only
positive evidence (the paper's hypothesis). Outputs (``attriflow positive-grad tables`` / ``grid``):

- ``tables/class_sensitivity.csv``: method, variant, model, target_kind (lowest / random other
  class), signed (True: SSIM of the signed maps, False: of the absolute maps), mean_ssim, std, n;
- ``tables/randomization.csv``: method, variant, model, stage, measure, value (mean over images),
  layer (the stage's name: original, then the blocks re-drawn from the top);
- ``tables/claims.csv``: paper, claim, measure, ours, published, source, holds, scale;
- ``figures/ssim_boxplots.png``, ``figures/randomization_curves.png``, ``figures/class_grid_<run>.png``;
- ``summary.md``: plain words generated from the computed numbers.

A claim "positive variant X is less class-sensitive / parameter-sensitive than its signed
counterpart Y" is decided on the per-image differences of SSIM (X - Y, same images): ``yes`` when
their mean exceeds ``SIGNIFICANCE`` standard errors, ``no`` when it is below minus that, otherwise
``not at this scale`` (too few images or too small an effect to tell).
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from attriflow.errors import UserError

PAPER = "positive-grad"
SOURCE = "Khakzar et al. 2020, arXiv 2012.00362, abstract"
SIGNIFICANCE = 2.0  # standard errors of the mean paired difference for a 'yes' / 'no'
AGGREGATING = ("grad_cam", "grad_cam_pp", "full_grad")
LRP_RULES = {"lrp_epsilon": "epsilon", "lrp_zplus": "z+", "lrp_alpha1beta0": "alpha1-beta0",
             "lrp_alpha2beta1": "alpha2-beta1"}
PROPAGATION = {"gradient": ("signed", False), "input_x_gradient": ("signed", False),
               "guided_backprop": ("positive", True), "deconvnet": ("positive", True)}
POSITIVE_LRP = ("lrp_zplus", "lrp_alpha1beta0")
# (positive variant, signed counterpart) as (registered method, variant) pairs: the paper's comparisons
PAIRS = (
    (("grad_cam", "positive"), ("grad_cam", "signed")),
    (("grad_cam_pp", "positive"), ("grad_cam_pp", "signed")),
    (("full_grad", "absolute"), ("full_grad", "signed")),
    (("full_grad", "positive"), ("full_grad", "signed")),
    (("guided_backprop", "positive"), ("gradient", "signed")),
    (("deconvnet", "positive"), ("gradient", "signed")),
    (("rectgrad", "signed a*g"), ("rectgrad", "|a*g|")),
    (("lrp_zplus", "z+"), ("lrp_epsilon", "epsilon")),
    (("lrp_alpha1beta0", "alpha1-beta0"), ("lrp_alpha2beta1", "alpha2-beta1")),
)


@dataclass(frozen=True)
class Variant:
    """What an entry is in the paper's terms."""

    entry: str
    method: str  # registered method
    variant: str  # the switch value ('signed', 'positive', 'absolute', 'z+', '|a*g|', ...)
    positive: bool  # aggregates or propagates only positive evidence (the paper's suspects)
    family: str  # 'aggregation' or 'propagation'


def entry_method(entry: str, spec: Mapping | None) -> tuple[str, dict]:
    """(registered method, parameters) of a config ``attribution.methods`` entry."""
    spec = dict(spec or {})
    method = spec.pop("method", entry)
    return str(method), spec


def describe(entry: str, spec: Mapping | None = None) -> Variant:
    """The method, variant and positivity of an entry (see the module docstring)."""
    from attriflow.attribution import get_method

    method, params = entry_method(entry, spec)
    registered = get_method(method)

    def value(name: str):
        return params.get(name, registered.params[name].default if name in registered.params else None)

    if method in AGGREGATING:
        agg = str(value("aggregation"))
        return Variant(entry, method, agg, agg in ("positive", "absolute"), "aggregation")
    if method == "rectgrad":
        absolute = value("score") == "absolute"
        return Variant(entry, method, "|a*g|" if absolute else "signed a*g", not absolute, "propagation")
    if method in LRP_RULES:
        return Variant(entry, method, LRP_RULES[method], method in POSITIVE_LRP, "propagation")
    if method in PROPAGATION:
        variant, positive = PROPAGATION[method]
        return Variant(entry, method, variant, positive, "propagation")
    raise UserError(f"positive-grad: entry {entry!r} (method {method!r}) is not one of the paper's methods: "
                    f"{', '.join([*AGGREGATING, 'rectgrad', *LRP_RULES, *PROPAGATION])}")


def _read(paths: Sequence[str | Path], kind: str, entries: Mapping[str, Variant]) -> pd.DataFrame:
    """Evaluation CSVs named <...>/<run>/<entry>.csv, with run, entry, method, variant, positive added."""
    frames = []
    for path in paths:
        path = Path(path)
        entry, run = path.stem, path.parent.name
        if entry not in entries:
            raise UserError(f"{path}: entry {entry!r} is not in the given entries ({', '.join(entries)})")
        df = pd.read_csv(path)
        if df.empty:
            raise UserError(f"{path}: no rows ({kind})")
        v = entries[entry]
        frames.append(df.assign(model=run, entry=entry, method=v.method, variant=v.variant, positive=v.positive))
    if not frames:
        raise UserError(f"positive-grad: no {kind} files given")
    return pd.concat(frames, ignore_index=True)


def class_sensitivity_table(cs: pd.DataFrame) -> pd.DataFrame:
    """Mean, std and n of the SSIM between the predicted and the other class's maps, signed and absolute."""
    cs = cs[cs["measure"].isin(["ssim", "ssim_abs"])]
    if cs.empty:
        raise UserError("positive-grad: the class-sensitivity files have no 'ssim' / 'ssim_abs' rows")
    out = (cs.assign(target_kind=cs["comparison"], signed=cs["measure"] == "ssim")
             .groupby(["method", "variant", "model", "target_kind", "signed"], sort=False)["value"]
             .agg(mean_ssim="mean", std="std", n="count").reset_index())
    return out[["method", "variant", "model", "target_kind", "signed", "mean_ssim", "std", "n"]]


def randomisation_table(rd: pd.DataFrame) -> pd.DataFrame:
    """Mean similarity to the original map per (method, variant, model, stage, measure)."""
    out = (rd.groupby(["method", "variant", "model", "stage", "layer", "measure"], sort=False)["value"]
             .mean().reset_index().sort_values(["model", "method", "variant", "measure", "stage"], kind="stable"))
    return out[["method", "variant", "model", "stage", "measure", "value", "layer"]].reset_index(drop=True)


def paired_difference(df: pd.DataFrame, a: tuple[str, str], b: tuple[str, str], keys: Sequence[str]) -> tuple[float, float, int]:
    """Mean and standard error of (value of a - value of b) over rows matched on ``keys``."""
    def pick(mv):
        part = df[(df["method"] == mv[0]) & (df["variant"] == mv[1])]
        return part.set_index(list(keys))["value"]

    joined = pd.concat([pick(a).rename("a"), pick(b).rename("b")], axis=1, join="inner").dropna()
    n = len(joined)
    if n == 0:
        return float("nan"), float("nan"), 0
    d = joined["a"] - joined["b"]
    se = float(d.std(ddof=1) / math.sqrt(n)) if n > 1 else float("inf")
    return float(d.mean()), se, n


def verdict(mean: float, se: float) -> str:
    if not np.isfinite(mean) or not np.isfinite(se):
        return "not at this scale"
    if mean > SIGNIFICANCE * se:
        return "yes"
    if mean < -SIGNIFICANCE * se:
        return "no"
    return "not at this scale"


def claims_table(cs: pd.DataFrame, rd: pd.DataFrame, scale: str) -> pd.DataFrame:
    """One row per (model, comparison pair, test): does the positive variant come out less sensitive?"""
    rows = []
    last = rd[rd["measure"] == "ssim"]
    last = last[last["stage"] == last.groupby("model")["stage"].transform("max")]
    cs_signed = cs[(cs["measure"] == "ssim") & (cs["comparison"] == "lowest")]
    for model in sorted(set(cs["model"]) | set(rd["model"])):
        for pos, neg in PAIRS:
            tests = (
                ("class sensitivity", cs_signed[cs_signed["model"] == model], ["image"],
                 "mean paired SSIM difference (predicted vs lowest-logit class, signed maps), positive minus signed",
                 "less class-sensitive (maps of different classes more alike)"),
                ("cascading randomisation", last[last["model"] == model], ["image"],
                 "mean paired SSIM difference to the original map with every stage re-drawn, positive minus signed",
                 "less parameter-sensitive (map survives randomising the model)"),
            )
            for test, df, keys, measure, published in tests:
                mean, se, n = paired_difference(df, pos, neg, keys)
                if n == 0:
                    continue
                rows.append({
                    "paper": PAPER,
                    "claim": f"{test}: {pos[0]} ({pos[1]}) is {published.split(' (')[0]} than {neg[0]} ({neg[1]}) on {model}",
                    "measure": measure, "ours": round(mean, 4), "published": published, "source": SOURCE,
                    "holds": verdict(mean, se), "scale": scale, "se": round(se, 4), "n": n,
                })
    return pd.DataFrame(rows, columns=["paper", "claim", "measure", "ours", "published", "source", "holds", "scale",
                                       "se", "n"])


def insensitive(cs_table: pd.DataFrame, rd_table: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Per (model, method, variant): class SSIM (signed, lowest class), final randomisation SSIM and
    whether each is at or above ``threshold`` (the method comes out insensitive)."""
    c = cs_table[(cs_table["signed"]) & (cs_table["target_kind"] == "lowest")]
    c = c.set_index(["model", "method", "variant"])["mean_ssim"].rename("class_ssim")
    r = rd_table[rd_table["measure"] == "ssim"]
    r = r[r["stage"] == r.groupby("model")["stage"].transform("max")]
    r = r.set_index(["model", "method", "variant"])["value"].rename("randomised_ssim")
    out = pd.concat([c, r], axis=1).reset_index()
    out["class_insensitive"] = out["class_ssim"] >= threshold
    out["parameter_insensitive"] = out["randomised_ssim"] >= threshold
    return out


def summary_text(cs_table: pd.DataFrame, rd_table: pd.DataFrame, claims: pd.DataFrame, variants: Sequence[Variant],
                 threshold: float, scale: str) -> str:
    """summary.md: which methods come out class- / parameter-insensitive, and which claims hold."""
    verdicts = insensitive(cs_table, rd_table, threshold)
    positive = {(v.method, v.variant): v.positive for v in variants}
    lines = [
        "# positive-grad: positive aggregation and propagation", "",
        f"Scale: {scale}. Every number below was computed in this run; the paper publishes no numeric table for "
        "these tests, so its claims are compared as directions (positive variant vs its signed counterpart).", "",
        "SSIM is reported on signed maps (each divided by its largest |value|, data range 2) and on absolute maps "
        "(`signed = False`). Which of the two the paper used is stated neither in its abstract nor in PAPERS.md "
        "(its full text was not available to this project); the claims below use the signed SSIM. LRP starts from "
        "relevance 1 on the explained logit whatever its sign, so for the lowest-logit class the signed and absolute "
        "SSIM can disagree.", "",
        f"A method counts as insensitive when its mean SSIM is at least {threshold} (class sensitivity: predicted "
        "vs lowest-logit class; randomisation: original map vs the map with every stage re-drawn).", "",
    ]
    for model, part in verdicts.groupby("model", sort=True):
        def names(mask):
            sel = part[mask]
            return ", ".join(
                f"{m} ({v}{', positive' if positive.get((m, v)) else ''})" for m, v in zip(sel["method"], sel["variant"])
            ) or "none"

        lines += [f"## {model}", "",
                  f"- Class-insensitive: {names(part['class_insensitive'])}.",
                  f"- Class-sensitive: {names(~part['class_insensitive'] & part['class_ssim'].notna())}.",
                  f"- Parameter-insensitive: {names(part['parameter_insensitive'])}.",
                  f"- Parameter-sensitive: {names(~part['parameter_insensitive'] & part['randomised_ssim'].notna())}."]
        pos = part[[positive.get((m, v), False) for m, v in zip(part["method"], part["variant"])]]
        sig = part[[not positive.get((m, v), False) for m, v in zip(part["method"], part["variant"])]]
        for col, what in (("class_ssim", "class-sensitivity"), ("randomised_ssim", "randomisation")):
            if pos[col].notna().any() and sig[col].notna().any():
                lines.append(f"- Mean {what} SSIM: {pos[col].mean():.3f} over positive variants, "
                             f"{sig[col].mean():.3f} over signed ones.")
        lines.append("")
    if not claims.empty:
        counts = claims["holds"].value_counts()
        lines += ["## The paper's claim", "",
                  "Positive aggregation and positive propagation make a method class- and parameter-insensitive. "
                  f"Of {len(claims)} paired comparisons (positive variant vs signed counterpart, per model and test): "
                  f"{counts.get('yes', 0)} hold, {counts.get('no', 0)} go the other way, "
                  f"{counts.get('not at this scale', 0)} cannot be told apart at this scale "
                  f"(mean difference within {SIGNIFICANCE:g} standard errors).", ""]
        for row in claims.itertuples(index=False):
            lines.append(f"- {row.claim}: {row.ours:+.3f} (SE {row.se:.3f}, n = {row.n}) -> {row.holds}.")
        lines.append("")
    return "\n".join(lines)


# --- figures ------------------------------------------------------------------------------------

def plot_ssim_boxes(cs: pd.DataFrame, path: str | Path) -> Path:
    """Box plots of the SSIM between the predicted and the other class's maps: one row per model,
    signed and absolute maps side by side, one box per entry and comparison."""
    import warnings

    import seaborn as sns
    from matplotlib import MatplotlibDeprecationWarning
    from matplotlib.figure import Figure

    from attriflow.reporting.figures import _save

    df = cs[cs["measure"].isin(["ssim", "ssim_abs"])].copy()
    df["maps"] = np.where(df["measure"] == "ssim", "signed maps", "absolute maps")
    df["label"] = df["method"] + "\n" + df["variant"] + np.where(df["positive"], " (+)", "")
    models = sorted(df["model"].unique())
    labels = list(dict.fromkeys(df["label"]))
    fig = Figure(figsize=(max(10.0, 0.55 * len(labels) * 2), 3.8 * len(models)))
    axes = fig.subplots(len(models), 2, squeeze=False)
    for i, model in enumerate(models):
        for j, kind in enumerate(("signed maps", "absolute maps")):
            ax = axes[i, j]
            part = df[(df["model"] == model) & (df["maps"] == kind)]
            with warnings.catch_warnings():  # seaborn 0.13 passes matplotlib's deprecated `vert` to bxp
                warnings.simplefilter("ignore", MatplotlibDeprecationWarning)
                sns.boxplot(data=part, x="label", y="value", hue="comparison", order=labels, ax=ax, fliersize=2)
            ax.set_title(f"{model}: {kind}")
            ax.set_xlabel("method, variant ((+) = positive aggregation / propagation)")
            ax.set_ylabel("SSIM, predicted vs other class")
            ax.tick_params(axis="x", labelrotation=90, labelsize=7)
            ax.set_ylim(-0.3, 1.05)
            ax.legend(title="other class", fontsize=7)
    fig.suptitle("Class sensitivity (lower SSIM = the map depends more on the explained class)")
    fig.tight_layout()
    return _save(fig, path)


def plot_randomisation_curves(rd: pd.DataFrame, path: str | Path) -> Path:
    """SSIM to the original map per cascading stage: one panel per model and family, solid lines
    for signed variants, dashed for positive ones."""
    import seaborn as sns
    from matplotlib.figure import Figure

    from attriflow.reporting.figures import _save

    df = rd[rd["measure"] == "ssim"].copy()
    df["entry_label"] = df["method"] + " / " + df["variant"]
    df["kind"] = np.where(df["positive"], "positive", "signed")
    df["family"] = np.where(df["method"].isin(AGGREGATING), "aggregation (CAM, FullGrad)", "propagation")
    models = sorted(df["model"].unique())
    families = ["aggregation (CAM, FullGrad)", "propagation"]
    fig = Figure(figsize=(13, 4.2 * len(models)))
    axes = fig.subplots(len(models), 2, squeeze=False)
    for i, model in enumerate(models):
        for j, family in enumerate(families):
            ax = axes[i, j]
            part = df[(df["model"] == model) & (df["family"] == family)]
            if part.empty:
                ax.set_visible(False)
                continue
            stages = part[["stage", "layer"]].drop_duplicates().sort_values("stage")
            sns.lineplot(seed=0, data=part, x="stage", y="value", hue="entry_label", style="kind",
                         style_order=["signed", "positive"], errorbar=None, marker="o", ax=ax)
            ax.set_xticks(stages["stage"].to_list())
            ax.set_xticklabels(stages["layer"].to_list(), rotation=60, ha="right", fontsize=7)
            ax.set_xlabel("randomised from the top down to")
            ax.set_ylabel("SSIM to the original map")
            ax.set_ylim(min(-0.2, float(part["value"].min()) - 0.05), 1.05)
            ax.set_title(f"{model}: {family}")
            ax.legend(fontsize=6, ncol=2)
    fig.suptitle("Cascading parameter randomisation (a map that stays similar ignores the parameters)")
    fig.tight_layout()
    return _save(fig, path)


def class_grid(run: str | Path, entries: Mapping[str, Mapping | None], path: str | Path, *, images: int = 3,
               batch_size: int = 16) -> Path:
    """Qualitative grid for one trained run: for ``images`` test images of different predicted classes,
    each entry's map for the predicted class beside its map for the lowest-logit class (rows: entries)."""
    import torch
    from matplotlib.figure import Figure

    from attriflow.attribution import attribute
    from attriflow.data.streaming import as_imageset
    from attriflow.reporting.figures import _save
    from attriflow.steps import run_splits

    model, _, splits = run_splits(run)
    test = as_imageset(splits.test.subset(slice(0, 16 * images)))  # a streamed split: only these images decoded
    device = next(model.parameters()).device
    x_all = test.images.to(device)
    with torch.no_grad():
        logits = model(x_all)
    chosen, seen = [], set()
    for i, c in enumerate(logits.argmax(1).tolist()):
        if c not in seen:
            seen.add(c)
            chosen.append(i)
        if len(chosen) == images:
            break
    x = x_all[chosen]
    predicted, lowest = logits[chosen].argmax(1), logits[chosen].argmin(1)
    names = getattr(test, "class_names", None) or None

    def cname(c: int) -> str:
        return str(names[c]) if names is not None and c < len(names) else f"class {c}"

    rows = []
    for entry, spec in entries.items():
        method, params = entry_method(entry, spec)
        pair = [attribute(model, x, t, method, batch_size=batch_size, **params).detach().cpu().numpy()
                for t in (predicted, lowest)]
        rows.append((entry, pair))
    n = len(chosen)
    fig = Figure(figsize=(1.6 * 2 * n + 1.5, 1.6 * (len(rows) + 1) + 0.6))
    axes = fig.subplots(len(rows) + 1, 2 * n, squeeze=False)
    pictures = x.detach().cpu().numpy().transpose(0, 2, 3, 1).clip(0, 1)
    for k in range(n):
        for s, label in enumerate(("predicted", "lowest logit")):
            ax = axes[0, 2 * k + s]
            pic = pictures[k]
            ax.imshow(pic[..., 0] if pic.shape[-1] == 1 else pic, cmap="gray" if pic.shape[-1] == 1 else None)
            c = int((predicted if s == 0 else lowest)[k])
            ax.set_title(f"{label}:\n{cname(c)}", fontsize=7)
    shown = None
    for r, (entry, pair) in enumerate(rows, start=1):
        for k in range(n):
            for s in range(2):
                m = pair[s][k]
                scale = np.abs(m).max()
                shown = axes[r, 2 * k + s].imshow(m / scale if scale > 0 else m, cmap="bwr", vmin=-1, vmax=1)
        axes[r, 0].set_ylabel(entry, fontsize=7, rotation=0, ha="right", va="center")
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{Path(run).name}: map of the predicted class beside the map of the lowest-logit class")
    fig.colorbar(shown, ax=axes.ravel().tolist(), shrink=0.4, label="map / max |map|")
    return _save(fig, path)


# --- command ------------------------------------------------------------------------------------

def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("positive-grad", help="positive-grad paper: tables, figures, claims, summary; class grids")
    psub = p.add_subparsers(dest="positive_grad_command", metavar="ACTION", required=True)

    t = psub.add_parser("tables", help="class-sensitivity and randomisation tables, figures, claims and summary.md")
    t.add_argument("--class-sensitivity", nargs="+", required=True, metavar="CSV",
                   help="results/eval/class_sensitivity/<run>/<entry>.csv files")
    t.add_argument("--randomisation", nargs="+", required=True, metavar="CSV",
                   help="results/eval/randomisation/<run>/<entry>.csv files")
    t.add_argument("--entries-json", required=True, help="JSON object: entry -> its config attribution.methods value")
    t.add_argument("--threshold", type=float, default=0.6, help="mean SSIM at or above which a method is insensitive")
    t.add_argument("--scale", required=True)
    t.add_argument("--out", required=True, help="reports/positive-grad (tables/, figures/ and summary.md inside)")
    t.set_defaults(func=_tables)

    g = psub.add_parser("grid", help="predicted vs lowest-logit class maps of every entry for one trained run")
    g.add_argument("--run", required=True, help="results/models/<id>")
    g.add_argument("--entries-json", required=True, help="JSON object: entry -> its config attribution.methods value")
    g.add_argument("--images", type=int, default=3, help="test images (of different predicted classes)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--out", required=True, help="PNG path")
    g.set_defaults(func=_grid)


def _entries(text: str) -> dict:
    try:
        entries = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"--entries-json: not valid JSON ({exc})") from exc
    if not isinstance(entries, dict) or not entries:
        raise UserError(f"--entries-json must be a non-empty JSON object, got {text!r}")
    return entries


def build_report(cs_paths: Sequence[str | Path], rd_paths: Sequence[str | Path], entries: Mapping[str, Mapping | None],
                 out: str | Path, *, scale: str, threshold: float = 0.6) -> dict[str, Path]:
    """Every table, figure (except the class grids) and summary.md of the paper under ``out``."""
    from attriflow.reporting.tables import write_table
    from attriflow.utils.io import atomic_write_text

    variants = {e: describe(e, s) for e, s in entries.items()}
    cs = _read(cs_paths, "class-sensitivity", variants)
    rd = _read(rd_paths, "randomisation", variants)
    if "order" in rd.columns:
        rd = rd[rd["order"] == "cascading"]
    out = Path(out)
    cs_table, rd_table = class_sensitivity_table(cs), randomisation_table(rd)
    claims = claims_table(cs, rd, scale)
    written = {}
    written["class_sensitivity"] = write_table(
        cs_table, out / "tables/class_sensitivity.csv", title="Class sensitivity: SSIM, predicted vs other class",
        note="signed = True: SSIM of the signed maps; False: of the absolute maps. Lower = more class-sensitive.")[0]
    written["randomization"] = write_table(
        rd_table, out / "tables/randomization.csv", title="Cascading randomisation: similarity to the original map",
        note="Stage 0 is the trained model; stage k has the top k stages re-drawn from N(0, std).")[0]
    written["claims"] = write_table(claims, out / "tables/claims.csv", title="positive-grad: the paper's claims, ours")[0]
    written["ssim_boxplots"] = plot_ssim_boxes(cs, out / "figures/ssim_boxplots.png")
    written["randomization_curves"] = plot_randomisation_curves(rd, out / "figures/randomization_curves.png")
    summary = out / "summary.md"
    atomic_write_text(summary, summary_text(cs_table, rd_table, claims, list(variants.values()), threshold, scale))
    written["summary"] = summary
    return written


def _tables(args) -> int:
    written = build_report(args.class_sensitivity, args.randomisation, _entries(args.entries_json), args.out,
                           scale=args.scale, threshold=args.threshold)
    for path in written.values():
        print(f"wrote {path}")
    return 0


def _grid(args) -> int:
    from attriflow.utils.provenance import seed_everything

    seed_everything(args.seed)
    print(f"wrote {class_grid(args.run, _entries(args.entries_json), args.out, images=args.images)}")
    return 0
