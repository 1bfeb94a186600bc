# Data: generate embedded sets, download public ones, locate registration-only ones, track with DVC.


rule generate_embedded:
    output:
        "data/{name}/meta.json",
    log:
        "logs/data/{name}.log",
    benchmark:
        "logs/benchmarks/data/{name}.tsv"
    wildcard_constraints:
        name="|".join(EMBEDDED),
    conda:
        ENV
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        seed=config["data_seed"],
    shell:
        "attriflow data generate {wildcards.name} --root data --seed {params.seed} > {log} 2>&1"


rule fetch_public:
    output:
        "data/{name}/meta.json",
    log:
        "logs/data/{name}.log",
    wildcard_constraints:
        name="|".join(registry_names("download")),
    retries: 2
    conda:
        ENV
    resources:
        mem_mb=2000,
        runtime=600,
    shell:
        "attriflow data fetch {wildcards.name} --root data > {log} 2>&1"


rule locate_registered:
    output:
        "data/{name}/meta.json",
    log:
        "logs/data/{name}.log",
    wildcard_constraints:
        name="|".join(registry_names("registration")),
    localrule: True
    conda:
        ENV
    params:
        path=lambda wc: (config["datasets"].get(wc.name) or {}).get("path")
        or f"data/{wc.name}/root",
    shell:
        "attriflow data locate {wildcards.name} --path {params.path:q} --root data 2> {log} || (cat {log} >&2; exit 1)"


rule dvc_track:
    """Record data/ in data.dvc (and push it when dvc.push is set); analysis rules never read it."""
    input:
        [dataset_meta(d) for d in all_datasets()],
    output:
        "data.dvc",
    log:
        "logs/data/dvc.log",
    localrule: True
    conda:
        ENV
    params:
        push="dvc push data.dvc" if config["dvc"]["push"] else "true",
    shell:
        "(dvc add data && {params.push}) > {log} 2>&1"
