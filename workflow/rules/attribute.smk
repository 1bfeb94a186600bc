# Attribution maps, stored once per (run, split, method entry) and read by every evaluation.


rule attribute:
    input:
        unpack(run_inputs),
        model="results/models/{run}/model.pt",
    output:
        "results/attributions/{run}/{split}/{entry}.npz",
    log:
        "logs/attribute/{run}/{split}/{entry}.log",
    benchmark:
        "logs/benchmarks/attribute/{run}/{split}/{entry}.tsv"
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
        method=lambda wc: method_of(wc.entry),
        method_params=lambda wc: method_params_json(wc.entry),
        limit=lambda wc: limit_arg(wc.split),
        target=config["attribution"]["target"],
        seed=config["seed"],
        scale=SCALE,
    shell:
        "attriflow attribute --run results/models/{wildcards.run} --method {params.method}"
        " --params-json {params.method_params:q} --split {wildcards.split} {params.limit}"
        " --target {params.target} --seed {params.seed} --scale {params.scale} --out {output} > {log} 2>&1"
