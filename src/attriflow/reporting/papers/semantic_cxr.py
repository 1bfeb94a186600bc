"""semantic-cxr report: the four questions of the paper as figures and tables, severity MAEs beside
the published ones, semantic attribution's concept ranking against chance, summary.md and claims.csv.

Inputs (under ``results``): ``models/<run>/{metrics.json,config.yaml}``,
``dissection/<run>/<layer>/{units.csv,meta.json}`` and, for the semantic runs,
``dissection/<run>/<layer>/semantic.csv``. ``cfg`` is the config's ``papers.semantic-cxr`` block
plus ``scale``, ``specs`` (run id -> training spec) and ``repeats`` (configured run -> {training
seed: run id}, the run itself and its seed copies ``<run>-seed<k>``; absent: the run alone at its
spec's seed). Every table has one row per configured run: the mean over its seeds, with the
half-width of the 95% Student-t interval (``<value>_ci95``, empty for one seed), ``n_seeds`` and
``seeds``. Every number written is computed here from those files; published numbers come from
``published.yaml`` with their source.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from attriflow.dissection.figures import plot_concept_units
from attriflow.errors import UserError
from attriflow.reporting.published import published
from attriflow.reporting.tables import mean_ci, seed_summary, write_table
from attriflow.utils.io import atomic_write_text, read_json

PAPER = "semantic-cxr"
INIT_NAMES = {"random": "random", "imagenet": "ImageNet", "chexpert": "CheXpert"}
LOSS_BASE = {"regression": "MSE", "binary": "BCE", "multilabel": "BCE", "multiclass": "CE", "zones": "CE"}


def init_kind(spec: dict, inits: dict) -> str:
    """random | imagenet | chexpert (or the init itself): the paper's name for a run's initialisation."""
    init = str(spec.get("init", "random"))
    return inits.get(init, init if init in ("random", "imagenet") else f"run {init}")


def init_label(kind: str, scale: str) -> str:
    name = INIT_NAMES.get(kind, kind)
    if scale != "paper" and kind == "imagenet":
        return f"{name} (shapes+textures stand-in)"
    if scale != "paper" and kind == "chexpert":
        return f"{name} (CXR phantom stand-in)"
    return name


def loss_label(spec: dict) -> str:
    """e.g. 'weighted MSE', 'MSE', 'weighted BCE': weighted when the loss has any weighting option."""
    loss = spec.get("loss") or {}
    weighted = bool(loss.get("weighted")) or any(k in loss for k in ("pos_weight", "neg_weight"))
    return ("weighted " if weighted else "") + LOSS_BASE.get(spec.get("task", ""), "loss")


def repeat_ids(cfg: dict, run: str) -> list[tuple[int, str]]:
    """(training seed, run id) of every repeat of a configured run, by seed."""
    reps = (cfg.get("repeats") or {}).get(run)
    if not reps:
        return [(int((cfg.get("specs") or {}).get(run, {}).get("seed", 0)), run)]
    return sorted((int(k), rid) for k, rid in reps.items())


def fmt_count(n: float) -> str:
    """A unit count: an integer as is, a mean over seeds with one decimal."""
    return str(int(round(n))) if abs(n - round(n)) < 1e-9 else f"{n:.1f}"


def max_seeds(df: pd.DataFrame) -> int:
    """The largest ``n_seeds`` of a table (1 without that column or any value)."""
    return int(df["n_seeds"].max()) if "n_seeds" in df and df["n_seeds"].notna().any() else 1


def seeds_note(df: pd.DataFrame) -> str:
    """'mean over N seeds (0 1 2)' or 'one seed' for a table with n_seeds / seeds columns."""
    if "n_seeds" not in df or df["n_seeds"].dropna().empty:
        return "one seed"
    n = int(df["n_seeds"].max())
    seeds = next((s for s in df["seeds"] if isinstance(s, str) and len(s.split()) == n), "")
    return f"mean over {n} training seeds ({seeds})" if n > 1 else f"one training seed ({seeds})"


def run_rows(cfg: dict) -> pd.DataFrame:
    """run, init_kind, init, loss, task, dataset of every dissected run."""
    rows = []
    for run in cfg["dissection"]["runs"]:
        spec = cfg["specs"][run]
        kind = init_kind(spec, cfg["study"].get("inits", {}))
        dataset = spec["dataset"] if isinstance(spec["dataset"], str) else "+".join(spec["dataset"])
        rows.append({"run": run, "init_kind": kind, "init": init_label(kind, cfg["scale"]), "loss": loss_label(spec),
                     "task": spec.get("task"), "dataset": dataset})
    return pd.DataFrame(rows)


CU_KEYS = ["run", "init", "loss", "layer", "concept"]
CU_COLUMNS = CU_KEYS + ["n_units", "n_units_ci95", "mean_iou", "mean_iou_ci95", "n_seeds", "seeds"]


def concept_units_per_seed(cfg: dict, results: Path) -> tuple[pd.DataFrame, dict]:
    """Units per concept of every repeat (run = the configured run, seed = the repeat's training seed)
    and each configured run's meta.json (of its first repeat)."""
    layer = cfg["dissection"]["layer"]
    runs = run_rows(cfg).set_index("run")
    frames, metas = [], {}
    for run in runs.index:
        for seed, rid in repeat_ids(cfg, run):
            folder = results / "dissection" / rid / layer
            units = pd.read_csv(folder / "units.csv")
            meta = read_json(folder / "meta.json")
            metas.setdefault(run, meta)
            per = units.dropna(subset=["concept"]).groupby("concept")["iou"].agg(n_units="size", mean_iou="mean")
            per = per.reindex(meta["concepts"])
            per["n_units"] = per["n_units"].fillna(0).astype(int)
            per = per.reset_index().rename(columns={"index": "concept"})
            per.insert(0, "layer", layer)
            per.insert(0, "loss", runs.loc[run, "loss"])
            per.insert(0, "init", runs.loc[run, "init"])
            per.insert(0, "run", run)
            per["seed"] = seed
            frames.append(per[CU_KEYS + ["n_units", "mean_iou", "seed"]])
    return pd.concat(frames, ignore_index=True), metas


def concept_units(cfg: dict, results: Path) -> tuple[pd.DataFrame, dict]:
    """The concept_units table, one row per (run, concept): n_units and mean_iou as the mean over the
    run's seeds with their 95% intervals (mean_iou over the seeds that have a unit of the concept),
    n_seeds and seeds; and each run's meta.json."""
    per_seed, metas = concept_units_per_seed(cfg, results)
    n = seed_summary(per_seed[CU_KEYS + ["n_units", "seed"]], CU_KEYS, "n_units")
    iou = seed_summary(per_seed[CU_KEYS + ["mean_iou", "seed"]], CU_KEYS, "mean_iou")
    out = n.drop(columns=["n_seeds", "seeds"]).merge(iou, on=CU_KEYS, how="left", sort=False)
    return out[CU_COLUMNS], metas


def severity_table(cfg: dict, results: Path) -> pd.DataFrame:
    """Test MAE of every severity run (the mean over its seeds, ``mae_ci95`` its 95% interval) beside
    the published MAE of the same setting (init and loss); published settings no run of ours matches
    are listed as rows of their own without our MAE."""
    pub = published().get(PAPER, {}).get("brixia_mae", [])
    runs = run_rows(cfg).set_index("run")
    rows, used = [], set()
    for run in cfg["study"]["severity"]:
        maes, seeds = [], []
        for seed, rid in repeat_ids(cfg, run):
            m = read_json(results / "models" / rid / "metrics.json")
            if "mae" not in m.get("test", {}):
                raise UserError(f"{results / 'models' / rid / 'metrics.json'}: no test MAE (is {run} a regression run?)")
            maes.append(float(m["test"]["mae"]))
            seeds.append(seed)
        mae, half = mean_ci(maes)
        r = runs.loc[run]
        want = f"{r['loss']}, {INIT_NAMES.get(r['init_kind'], r['init_kind'])} init"
        match = next((p for p in pub if p["setting"] == want), None)
        if match:
            used.add(match["setting"])
        rows.append({"run": run, "init": r["init"], "loss": r["loss"], "mae": round(mae, 4),
                     "mae_ci95": None if np.isnan(half) else round(half, 4), "n_seeds": len(seeds),
                     "seeds": " ".join(map(str, seeds)),
                     "published_mae": match["value"] if match else None, "source": match["source"] if match else "",
                     "scale": cfg["scale"], "dataset": r["dataset"]})
    for p in pub:
        if p["setting"] not in used:
            rows.append({"run": f"(published) {p['setting']}", "init": "", "loss": "", "mae": None, "mae_ci95": None,
                         "n_seeds": None, "seeds": "", "published_mae": p["value"], "source": p["source"],
                         "scale": "paper", "dataset": "BrixIA"})
    return pd.DataFrame(rows, columns=["run", "init", "loss", "mae", "mae_ci95", "n_seeds", "seeds", "published_mae",
                                       "source", "scale", "dataset"])


def poisson_binomial_sf(hits: int, p: np.ndarray) -> float:
    """P(X >= hits) for X a sum of independent Bernoulli(p_i): the chance of as many top-1 hits."""
    dist = np.zeros(len(p) + 1)
    dist[0] = 1.0
    for q in p:
        dist[1:] = dist[1:] * (1 - q) + dist[:-1] * q
        dist[0] *= 1 - q
    return float(dist[hits:].sum())


RANK_COLUMNS = ["run", "concepts", "n_concepts", "n_images", "top1_hits", "hit_rate", "hit_rate_ci95", "chance_rate",
                "p_value", "n_seeds", "seeds"]


def semantic_rank(cfg: dict, results: Path) -> pd.DataFrame:
    """How often the top-ranked concept of semantic attribution is one the image carries, vs chance.
    The images of every seed are pooled (n_images, top1_hits, hit_rate, chance_rate and the
    Poisson-binomial p_value over all of them); hit_rate_ci95 is the 95% interval of the per-seed hit
    rates and n_concepts the mean number of labelled concepts over seeds."""
    layer = cfg["dissection"]["layer"]
    context = set(cfg["study"].get("context_concepts", []))
    rows = []
    for run in cfg["study"]["semantic"]:
        per_seed = []
        for seed, rid in repeat_ids(cfg, run):
            df = pd.read_csv(results / "dissection" / rid / layer / "semantic.csv")
            units = pd.read_csv(results / "dissection" / rid / layer / "units.csv").dropna(subset=["concept"])
            per_seed.append((seed, df, units))
        for scope in ("pathology", "all"):
            n_concepts, hits, chance, rates = [], 0, [], []
            for _, df, units in per_seed:
                n_concepts.append(len({c for c in units["concept"] if scope == "all" or c not in context}))
                part = df.dropna(subset=[f"hit_{scope}"])
                h = int(part[f"hit_{scope}"].astype(bool).sum())
                hits += h
                chance.append(part[f"chance_{scope}"].to_numpy(dtype=float))
                if len(part):
                    rates.append(h / len(part))
            chance = np.concatenate(chance) if chance else np.zeros(0)
            n = len(chance)
            half = mean_ci(rates)[1]
            seeds = [s for s, _, _ in per_seed]
            rows.append({"run": run, "concepts": scope, "n_concepts": float(np.mean(n_concepts)), "n_images": n,
                         "top1_hits": hits, "hit_rate": hits / n if n else None,
                         "hit_rate_ci95": None if np.isnan(half) else half,
                         "chance_rate": float(chance.mean()) if n else None,
                         "p_value": poisson_binomial_sf(hits, chance) if n else None,
                         "n_seeds": len(seeds), "seeds": " ".join(map(str, seeds))})
    return pd.DataFrame(rows, columns=RANK_COLUMNS)


def _plot_rank(df: pd.DataFrame, path: Path) -> None:
    import seaborn as sns
    from matplotlib.figure import Figure

    from attriflow.reporting.figures import _save

    part = df[df["concepts"] == "pathology"].dropna(subset=["hit_rate"])
    long = pd.concat([part.assign(rate=part["hit_rate"], what="semantic attribution: top concept carried"),
                      part.assign(rate=part["chance_rate"], what="chance (random ranking)")])
    fig = Figure(figsize=(7, 3.8))
    ax = fig.subplots()
    if long.empty:
        ax.text(0.5, 0.5, "no run has a labelled pathology unit: nothing to rank", ha="center", va="center",
                transform=ax.transAxes)
        ax.set_axis_off()
    else:
        sns.barplot(seed=0, data=long, x="run", y="rate", hue="what", errorbar=None, ax=ax)
        n = max_seeds(part)
        if n > 1 and ax.containers:  # the hit rate: mean over seeds with its 95% interval
            half = part["hit_rate_ci95"].astype(float).fillna(0.0).to_numpy()
            bars = list(ax.containers[0])
            ax.errorbar([b.get_x() + b.get_width() / 2 for b in bars], [b.get_height() for b in bars], yerr=half[:len(bars)],
                        fmt="none", ecolor="black", capsize=3, label=f"95% interval over {n} seeds")
        ax.set_ylim(0, 1)
        ax.set_ylabel("fraction of probe images")
        ax.set_xlabel("run")
        ax.tick_params(axis="x", rotation=20)
        ax.legend(fontsize=8, loc="upper right")
    ax.set_title("Does the top concept of semantic attribution appear in the image? (pathology concepts)")
    fig.tight_layout()
    _save(fig, path)


QUESTIONS = {
    "severity_concepts": "Which concepts does a severity-regression model learn?",
    "weak_concepts": "Which concepts does a weak-label (Finding / No Finding) model learn?",
    "init_units": "Units per concept: random vs ImageNet vs CheXpert initialisation (severity models)",
    "loss_units": "Units per concept: weighted vs unweighted loss (weak-label models)",
}


def build_report(cfg: dict[str, Any], results: Path, out_dir: Path) -> list[Path]:
    """Write every table and figure of the study to ``out_dir`` (``tables/``, ``figures/``), plus
    ``summary.md`` and ``tables/claims.csv``; returns the paths written."""
    results, out_dir = Path(results), Path(out_dir)
    tables, figures = out_dir / "tables", out_dir / "figures"
    scale = cfg["scale"]
    study = cfg["study"]
    context = set(study.get("context_concepts", []))
    cu, metas = concept_units(cfg, results)
    seeds = seeds_note(cu)
    ci = "; *_ci95: half-width of the 95% Student-t interval over seeds (empty for one seed)"
    written = list(write_table(cu, tables / "concept_units.csv", title="semantic-cxr: units per concept",
                               note=f"Dissection of {cfg['dissection']['layer']} (IoU > {cfg['dissection']['iou_threshold']}, "
                                    f"quantile {cfg['dissection']['quantile']}), scale {scale}; n_units and mean_iou: "
                                    f"{seeds}{ci}."))
    sev_ref, weak_ref = study["severity"][-1], study["weak"][0]
    subsets = {
        "severity_concepts": (cu[cu["run"] == sev_ref], "run"),
        "weak_concepts": (cu[cu["run"] == weak_ref], "run"),
        "init_units": (cu[cu["run"].isin(study["severity"])], "init"),
        "loss_units": (cu[cu["run"].isin(study["weak"])], "loss"),
    }
    for name, (df, hue) in subsets.items():
        written += write_table(df, tables / f"{name}.csv", title=QUESTIONS[name], note=f"n_units, mean_iou: {seeds}{ci}.")
        written.append(plot_concept_units(df, figures / f"{name}.png", hue=hue, title=QUESTIONS[name]))
    sev = severity_table(cfg, results)
    written += write_table(sev, tables / "severity.csv", title="BrixIA-style severity regression: test MAE",
                           note=f"mae: {seeds_note(sev)}{ci}; "
                                "published_mae: the paper's (or BS-Net's) MAE for the same init and loss, with its source; "
                                "rows named (published) are settings none of our runs has.")
    rank = semantic_rank(cfg, results)
    written += write_table(rank, tables / "semantic_rank.csv", title="Semantic attribution: top concept carried by the image",
                           note="chance_rate: mean over images of (labelled concepts the image carries) / (labelled concepts); "
                                "p_value: probability of at least as many hits by chance (Poisson-binomial). The probe images "
                                f"of every seed are pooled ({seeds_note(rank)}); hit_rate_ci95: 95% interval of the per-seed "
                                "hit rates; n_concepts: mean labelled concepts per seed.")
    _plot_rank(rank, figures / "semantic_rank.png")
    written.append(figures / "semantic_rank.png")
    claims = claims_table(cu, sev, rank, context, cfg)
    written += write_table(claims, tables / "claims.csv", title="semantic-cxr: the paper's claims at this scale")
    summary = summary_text(cu, sev, rank, claims, metas, cfg)
    atomic_write_text(out_dir / "summary.md", summary)
    written.append(out_dir / "summary.md")
    return written


def _pathology_units(cu: pd.DataFrame, run: str, context: set) -> tuple[float, list[str]]:
    """Units of ``run`` labelled with a pathology concept (a mean over seeds) and those concepts, most units first."""
    part = cu[(cu["run"] == run) & (cu["n_units"] > 0) & ~cu["concept"].isin(context)]
    return float(part["n_units"].sum()), part.sort_values("n_units", ascending=False)["concept"].tolist()


def _n_seeds(df: pd.DataFrame, run: str) -> int:
    return max_seeds(df[df["run"] == run])


def _over(n: int) -> str:
    return f" (mean over {n} seeds)" if n > 1 else ""


def claims_table(cu, sev, rank, context, cfg) -> pd.DataFrame:
    study, scale = cfg["study"], cfg["scale"]
    source = "Khakzar et al. MICCAI 2021"
    rows = []

    def add(claim, measure, ours, pub, src, holds):
        rows.append({"paper": PAPER, "claim": claim, "measure": measure, "ours": ours, "published": pub,
                     "source": src, "holds": holds, "scale": scale})

    for key, run, what in (("severity", study["severity"][-1], "a severity-regression model"),
                           ("weak", study["weak"][0], "a weak-label (Finding / No Finding) model")):
        n, names = _pathology_units(cu, run, context)
        add(f"{what} implicitly learns units aligned with thoracic pathologies",
            f"units of {run} labelled with a pathology concept{_over(_n_seeds(cu, run))}",
            f"{fmt_count(n)} ({', '.join(names) or 'none'})",
            "yes (units shown per pathology)", source, "yes" if n > 0 else "no")
    for key, label, by in (("severity", "initialisation", "init"), ("weak", "loss weighting", "loss")):
        counts = {r: _pathology_units(cu, r, context)[0] for r in study[key]}
        lab = cu.drop_duplicates("run").set_index("run")[by]
        ours = "; ".join(f"{lab[r]}: {fmt_count(c)}" for r, c in counts.items())
        add(f"{label} changes how many units learn pathology concepts (compared in the paper's figures)",
            f"pathology-labelled units per run{_over(max(_n_seeds(cu, r) for r in study[key]))}", ours, "compared qualitatively; direction not recorded in PAPERS.md",
            source, "not at this scale")
    for _, r in sev.dropna(subset=["mae", "published_mae"]).iterrows():
        pm = f" ± {r['mae_ci95']:.3f}" if pd.notna(r.get("mae_ci95")) else ""
        add(f"severity MAE of {r['loss']}, {r['init']}", f"test MAE (BrixIA score 0..18){_over(int(r['n_seeds']))}",
            f"{r['mae']:.3f}{pm}",
            f"{r['published_mae']}", r["source"], "not at this scale")
    for _, r in rank[rank["concepts"] == "pathology"].iterrows():
        if pd.isna(r["hit_rate"]):
            add(f"semantic attribution of {r['run']} ranks a concept the image carries first",
                "top-1 hit rate vs chance", "no labelled pathology unit", "", source, "no")
            continue
        if r["n_concepts"] < 2:  # one labelled concept: it always ranks first, the test says nothing
            holds = "not at this scale"
        else:
            holds = "yes" if (r["hit_rate"] > r["chance_rate"] and r["p_value"] < 0.05) else "no"
        n_seeds = int(r["n_seeds"]) if pd.notna(r.get("n_seeds")) else 1
        pm = f" ± {r['hit_rate_ci95']:.2f}" if pd.notna(r.get("hit_rate_ci95")) else ""
        add(f"semantic attribution of {r['run']} ranks a concept the image carries first more often than chance",
            "top-1 hit rate vs chance (pathology concepts" + (f", images of {n_seeds} seeds pooled)" if n_seeds > 1 else ")"),
            f"{r['hit_rate']:.2f}{pm} vs {r['chance_rate']:.2f} (p={r['p_value']:.2g}, n={int(r['n_images'])})",
            "shown on examples", source, holds)
    return pd.DataFrame(rows)


def summary_text(cu, sev, rank, claims, metas, cfg) -> str:
    d, study, scale = cfg["dissection"], cfg["study"], cfg["scale"]
    context = set(study.get("context_concepts", []))
    any_meta = next(iter(metas.values()))
    lines = [
        f"# semantic-cxr at scale {scale}", "",
        f"Dissection of `{d['layer']}` ({any_meta['map_size'][0]}x{any_meta['map_size'][1]} maps, "
        f"{any_meta['n_units']} units) of {len(metas)} runs on {any_meta['n_images']} probe images "
        f"({', '.join(d['probe'])}), masks scored at {any_meta['mask_size'][0]}x{any_meta['mask_size'][1]}; "
        f"threshold: the {d['quantile']} quantile of each unit's activations; a unit is labelled when its best IoU "
        f"exceeds {d['iou_threshold']}.", "",
        f"Training seeds: every number below is the {seeds_note(cu)}"
        + (" of each run (the run and its copies `<run>-seed<k>`); ± is the half-width of the 95% Student-t interval."
           if _n_seeds(cu, cu["run"].iloc[0]) > 1 else "; no interval is given."), "",
        "## Units per concept", "",
    ]
    for run, meta in metas.items():
        n, names = _pathology_units(cu, run, context)
        part = cu[cu["run"] == run]
        total = float(part["n_units"].sum())
        lines.append(f"- `{run}`{_over(_n_seeds(cu, run))}: {fmt_count(total)} of {meta['n_units']} units labelled, "
                     f"{fmt_count(n)} with a pathology concept" + (f" ({', '.join(names)})" if names else "") + ".")
    lines += ["", "## Severity regression (test MAE)", ""]
    for _, r in sev.iterrows():
        if pd.isna(r["mae"]):
            lines.append(f"- {r['run']}: published {r['published_mae']} ({r['source']}); no run of ours has this setting.")
        else:
            pub = f", published {r['published_mae']} for the same setting ({r['source']})" if pd.notna(r["published_mae"]) else ""
            pm = f" ± {r['mae_ci95']:.3f}" if pd.notna(r.get("mae_ci95")) else ""
            lines.append(f"- `{r['run']}` ({r['loss']}, {r['init']}): MAE {r['mae']:.3f}{pm}{_over(int(r['n_seeds']))}{pub}.")
    lines += ["", "## Semantic attribution", ""]
    for _, r in rank[rank["concepts"] == "pathology"].iterrows():
        if pd.isna(r["hit_rate"]):
            lines.append(f"- `{r['run']}`: no labelled pathology unit, so no ranking.")
        else:
            n_seeds = int(r["n_seeds"]) if pd.notna(r.get("n_seeds")) else 1
            pooled = f" (probe images of {n_seeds} seeds pooled; ± {r['hit_rate_ci95']:.0%} over seeds)" \
                if n_seeds > 1 and pd.notna(r.get("hit_rate_ci95")) else ""
            lines.append(f"- `{r['run']}`: the top-ranked pathology concept (of {fmt_count(r['n_concepts'])} labelled) is one "
                         f"the phantom carries in {int(r['top1_hits'])} of {int(r['n_images'])} images "
                         f"({r['hit_rate']:.0%}){pooled}; chance {r['chance_rate']:.0%} (p = {r['p_value']:.2g})"
                         + ("; with one labelled concept the ranking is trivial." if r["n_concepts"] < 2 else "."))
    lines += ["", "## Claims", ""]
    for _, c in claims.iterrows():
        lines.append(f"- {c['claim']}: ours {c['ours']}; holds: **{c['holds']}**.")
    if scale != "paper":
        lines += ["", "At this scale the models are small DenseNets (48 units in the last block) trained for a few epochs "
                      "on generated phantoms, so counts are small and MAEs are not comparable with the published ones."]
    return "\n".join(lines) + "\n"
