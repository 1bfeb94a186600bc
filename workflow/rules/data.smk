# Data: generate embedded sets, download public ones, locate registration-only ones, track with DVC.


def _registry_names(kind):
    from attriflow.data.registry import registry

    return [d.name for d in registry().values() if d.kind == kind]


rule generate_embedded:
    output:
        "data/{name}/meta.json",
    wildcard_constraints:
        name="|".join(EMBEDDED),
    log:
        "logs/data/{name}.log",
    benchmark:
        "logs/benchmarks/data/{name}.tsv"
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "attriflow data generate {wildcards.name} --root data --seed {config[data_seed]} > {log} 2>&1"


rule fetch_public:
    output:
        "data/{name}/meta.json",
    wildcard_constraints:
        name="|".join(_registry_names("download")),
    log:
        "logs/data/{name}.log",
    resources:
        mem_mb=2000,
        runtime=600,
    retries: 2
    shell:
        "attriflow data fetch {wildcards.name} --root data > {log} 2>&1"


rule locate_registered:
    output:
        "data/{name}/meta.json",
    wildcard_constraints:
        name="|".join(_registry_names("registration")),
    params:
        path=lambda wc: (config["datasets"].get(wc.name) or {}).get("path") or f"data/{wc.name}/root",
    log:
        "logs/data/{name}.log",
    localrule: True
    shell:
        "attriflow data locate {wildcards.name} --path {params.path:q} --root data 2> >(tee {log} >&2)"


rule dvc_track:
    """Record data/ in data.dvc (and push it when a remote is set): analysis rules never read it."""
    input:
        [dataset_meta(d) for d in all_datasets()],
    output:
        "data.dvc",
    params:
        push="dvc push data.dvc" if config["dvc"]["push"] else "true",
    log:
        "logs/data/dvc.log",
    localrule: True
    shell:
        "(dvc add data && {params.push}) > {log} 2>&1"
