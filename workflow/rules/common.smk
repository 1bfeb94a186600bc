# Shared helpers: config look-ups and input functions.
import json
from pathlib import Path

from attriflow.data.views import folders_of

SCALE = config["scale"]
PAPERS = list(config["papers"])
EMBEDDED = ["cxr-phantoms", "shapes", "textures", "digits"]
# absolute, so rules in rules/papers/ resolve it too
ENV = str(Path(workflow.basedir) / "environment.yml")


def dataset_meta(name):
    """The file that marks a prepared dataset; ancient() so a `dvc pull` does not retrigger."""
    return ancient(f"data/{name}/meta.json")


def paper_datasets(paper):
    return config["papers"][paper]["datasets"]


def all_datasets():
    return sorted({d for p in PAPERS for d in paper_datasets(p)})


def paper_runs(paper):
    return config["papers"][paper].get("runs", [])


def run_spec(run):
    """The full training spec of a run: its config entry plus scale-wide defaults."""
    spec = dict(config["train_defaults"])
    spec.update(config["runs"][run])
    spec.setdefault("seed", config["seed"])
    spec["device"] = config["device"]
    spec["scale"] = SCALE
    return spec


def run_inputs(wildcards):
    """Dataset markers, plus the parent model when a run starts from an earlier run."""
    views = config["runs"][wildcards.run]["dataset"]
    views = views if isinstance(views, list) else [views]
    folders = sorted({f for v in views for f in folders_of(v)})
    inputs = {"data": [dataset_meta(f) for f in folders]}
    init = config["runs"][wildcards.run].get("init", "random")
    if init in config["runs"]:
        inputs["init"] = f"results/models/{init}/model.pt"
    return inputs


# Targets of each paper, appended by its own file workflow/rules/papers/<id>.smk: figures and tables.
PAPER_OUTPUTS = {paper: [] for paper in PAPERS}


def paper_outputs(paper):
    """Every figure and table of a paper that this workflow builds (nothing that is not built yet)."""
    outputs = []
    if paper_runs(paper):
        outputs += [
            f"reports/{paper}/tables/models.csv",
            f"reports/{paper}/tables/models.md",
        ]
    return outputs + PAPER_OUTPUTS[paper]


def registry_names(kind):
    """Real datasets of one kind: download or registration."""
    from attriflow.data.registry import registry

    return [d.name for d in registry().values() if d.kind == kind]


def method_entry(entry):
    """Config `attribution.methods[entry]`: a registered method's parameters, or an alias
    `{method: <registered name>, <param>: <value>}`; a name not listed is a method with its defaults.
    """
    return dict(config["attribution"]["methods"].get(entry) or {})


def method_of(entry):
    """The registered method an entry runs."""
    return method_entry(entry).get("method", entry)


def method_params_json(entry):
    return json.dumps(method_params(entry), sort_keys=True)


def method_params(entry):
    """An entry's parameters: the shared batch size and channel reduction, then the entry's own."""
    a = config["attribution"]
    params = {
        "batch_size": a["batch_size"],
        "reduce": a["reduce"],
        "absolute": a["absolute"],
    }
    params.update({k: v for k, v in method_entry(entry).items() if k != "method"})
    return params


def limit_arg(split):
    limit = config["attribution"]["limit"].get(split)
    return "" if limit is None else f"--limit {limit}"


def seeds_of(block):
    """The training seeds of a config block's repeats: its `seeds`, else the config's seed."""
    return block.get("seeds") or [config["seed"]]


def roar_seeds():
    """The training seeds of every ROAR point (config `roar.seeds`)."""
    return seeds_of(config["roar"])


def roar_outputs():
    """Every ROAR point of the config: (method entry of `benchmark.methods`, fraction, seed) over the
    ROAR run, plus the 0% point per seed (`none`: the unmodified data retrained with the same budget).
    """
    r = config["roar"]
    unmodified = expand(
        "results/roar/{run}/none/0/seed{seed}/metrics.json",
        run=r["run"],
        seed=roar_seeds(),
    )
    points = expand(
        "results/roar/{run}/{method}/{fraction}/seed{seed}/metrics.json",
        run=r["run"],
        method=config["benchmark"]["methods"],
        fraction=[f for f in r["fractions"] if f > 0],
        seed=roar_seeds(),
    )
    return unmodified + points


def roar_epochs_arg():
    """`--epochs N` when config `roar.epochs` overrides the run's own budget, else nothing."""
    epochs = config["roar"]["epochs"]
    return "" if epochs is None else f"--epochs {epochs}"


def eval_output(kind, run, entry):
    """A generic evaluation's result table: kind in randomisation | class_sensitivity | perturbation."""
    return f"results/eval/{kind}/{run}/{entry}.csv"
