# Attribution maps, stored once per (run, split, method) and read by every evaluation.


rule attribute:
    input:
        unpack(run_inputs),
        model="results/models/{run}/model.pt",
    output:
        "results/attributions/{run}/{split}/{method}.npz",
    log:
        "logs/attribute/{run}/{split}/{method}.log",
    benchmark:
        "logs/benchmarks/attribute/{run}/{split}/{method}.tsv"
    wildcard_constraints:
        split="train|val|test",
    conda:
        ENV
    threads: workflow.cores
    resources:
        gpu=config["resources"]["attribute"]["gpu"],
        mem_mb=config["resources"]["attribute"]["mem_mb"],
        runtime=config["resources"]["attribute"]["runtime"],
    params:
        method_params=lambda wc: json.dumps(method_params(wc.method), sort_keys=True),
        limit=lambda wc: limit_arg(wc.split),
        target=config["attribution"]["target"],
        seed=config["seed"],
        scale=SCALE,
    shell:
        "attriflow attribute --run results/models/{wildcards.run} --method {wildcards.method}"
        " --params-json {params.method_params:q} --split {wildcards.split} {params.limit}"
        " --target {params.target} --seed {params.seed} --scale {params.scale} --out {output} > {log} 2>&1"
