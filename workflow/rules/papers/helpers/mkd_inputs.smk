# Input functions of the mkd rules (workflow/rules/papers/mkd.smk).


def mkd_entry(dataset):
    """A detection entry with the paper-wide settings (expert input, loss, protocols, localisation) under it."""
    entry = {k: MKD[k] for k in MKD_SHARED if k in MKD}
    own = dict(MKD["detection"][dataset])
    entry["loss"] = {**entry.get("loss", {}), **own.pop("loss", {})}
    entry.update(own)
    return entry


def mkd_expert():
    """The expert: a run of this config (results/models/<id>) or a named pretrained model."""
    e = MKD["expert"]
    return f"results/models/{e}" if e in config["runs"] else e


def mkd_folders(dataset):
    view = MKD["detection"][dataset]["view"]
    try:
        return folders_of(view)
    except (
        Exception
    ):  # a real dataset without a view of its own: its folder has its name
        return (view.split("/")[0],)


def mkd_inputs(wildcards):
    inputs = {"data": [dataset_meta(f) for f in mkd_folders(wildcards.dataset)]}
    if MKD["expert"] in config["runs"]:
        inputs["expert"] = f"results/models/{MKD['expert']}/model.pt"
    return inputs


def mkd_variants():
    return MKD.get("ablations", {}).get("variants", {})


def mkd_overrides(variant):
    return {} if variant == "main" else mkd_variants()[variant]


def mkd_seeds():
    """Seeds of the main loss (papers.mkd.seeds); the ablations use the first."""
    return seeds_of(MKD)


def mkd_main_dirs():
    return [
        f"results/mkd/{d}/main/seed{s}" for d in MKD["detection"] for s in mkd_seeds()
    ]


def mkd_ablation_dirs():
    abl = MKD.get("ablations", {})
    return [
        f"results/mkd/{d}/{v}/seed{mkd_seeds()[0]}"
        for d in abl.get("datasets", [])
        for v in abl.get("variants", {})
    ]
