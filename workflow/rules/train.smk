# Training: one rule for every model of every paper; the spec comes from config `runs`.


rule train:
    input:
        unpack(run_inputs),
    output:
        model="results/models/{run}/model.pt",
        metrics="results/models/{run}/metrics.json",
    params:
        spec=lambda wc: json.dumps(run_spec(wc.run), sort_keys=True),
    log:
        "logs/train/{run}.log",
    benchmark:
        "logs/benchmarks/train/{run}.tsv"
    threads: workflow.cores
    resources:
        gpu=config["resources"]["train"]["gpu"],
        mem_mb=config["resources"]["train"]["mem_mb"],
        runtime=config["resources"]["train"]["runtime"],
    shell:
        "attriflow train --spec-json {params.spec:q} --out results/models/{wildcards.run} > {log} 2>&1"
