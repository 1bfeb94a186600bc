# Input functions of the pathways and prunegrad rule files (included by pathways.smk).
from pathlib import Path


def report_caption(paper, name):
    """The caption of a figure or table: per-run figures (sanity_checks_<run>) share one caption."""
    kind = "sanity_checks" if name.startswith("sanity_checks_") else name
    return f"../../report/{paper}/{kind}.rst"


def pathways_eval_files(kind, paper_cfg):
    """results/eval/<kind>/<run>/<entry>.csv for the paper's evaluation runs and methods."""
    ev = paper_cfg["evaluation"]
    return expand(
        f"results/eval/{kind}/{{run}}/{{entry}}.csv",
        run=ev["runs"],
        entry=ev["methods"],
    )


def pathways_roar_files(paper_cfg):
    """The ROAR points of the methods this paper compares (the config's ROAR run and fractions), and
    the 0% point (`none`: unmodified data retrained with the same budget)."""
    wanted = set(paper_cfg["evaluation"]["methods"]) | {"random"}
    return [f for f in roar_outputs() if Path(f).parts[-4] in wanted | {"none"}]


def pathways_grid_methods(wildcards, paper):
    cfg = config["papers"][paper]
    s = cfg["grids"][wildcards.run]
    entries = {
        m: {"method": method_of(m), **method_params(m)} for m in cfg["grid_methods"]
    }
    for m in ("prune_grad", "pathway_gradient"):
        label = {"prune_grad": "PruneGrad", "pathway_gradient": "PathwayGrad"}[m]
        entries[f"{label} s={s:g}"] = {**method_params(m), "method": m, "sparsity": s}
    return json.dumps(entries)


def pathways_report_inputs(paper_cfg, with_statistics):
    inputs = {
        "randomisation": pathways_eval_files("randomisation", paper_cfg),
        "perturbation": pathways_eval_files("perturbation", paper_cfg),
        "roar": pathways_roar_files(paper_cfg),
        "models": [f"results/models/{config['roar']['run']}/metrics.json"],
    }
    if with_statistics:
        runs = paper_cfg["statistics"]["runs"]
        inputs["response"] = [f"results/pathways/{r}/response.csv" for r in runs]
        inputs["overlap"] = [f"results/pathways/{r}/overlap.csv" for r in runs]
        inputs["sweep"] = [
            f"results/pathways/{r}/sweep.csv" for r in paper_cfg["sweep"]["runs"]
        ]
    return inputs
