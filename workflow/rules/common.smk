# Shared helpers: config look-ups and input functions.
import json

from attriflow.data.views import folders_of

SCALE = config["scale"]
PAPERS = list(config["papers"])
EMBEDDED = ["cxr-phantoms", "shapes", "textures", "digits"]
ENV = "../../environment.yml"


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


def paper_outputs(paper):
    """Every figure and table of a paper that this workflow builds (nothing that is not built yet)."""
    outputs = []
    if paper_runs(paper):
        outputs += [
            f"reports/{paper}/tables/models.csv",
            f"reports/{paper}/tables/models.md",
        ]
    return outputs


def registry_names(kind):
    """Real datasets of one kind: download or registration."""
    from attriflow.data.registry import registry

    return [d.name for d in registry().values() if d.kind == kind]


def method_params(method):
    """A method's parameters from config `attribution.methods`, with the shared batch size."""
    params = {"batch_size": config["attribution"]["batch_size"]}
    params.update(config["attribution"]["methods"].get(method) or {})
    return params


def limit_arg(split):
    limit = config["attribution"]["limit"].get(split)
    return "" if limit is None else f"--limit {limit}"


def roar_outputs():
    """Every ROAR point of the config: (method, fraction) over the ROAR run."""
    r = config["roar"]
    return expand(
        "results/roar/{run}/{method}/{fraction}/metrics.json",
        run=r["run"],
        method=r["methods"],
        fraction=r["fractions"],
    )
