# Training: one rule for every model of every paper; the spec comes from config `runs`.


rule train:
    input:
        unpack(run_inputs),
    output:
        model="results/models/{run}/model.pt",
        metrics="results/models/{run}/metrics.json",
    log:
        "logs/train/{run}.log",
    benchmark:
        "logs/benchmarks/train/{run}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        gpu=config["resources"]["train"]["gpu"],
        mem_mb=config["resources"]["train"]["mem_mb"],
        runtime=config["resources"]["train"]["runtime"],
    params:
        spec=lambda wc: json.dumps(run_spec(wc.run), sort_keys=True),
        out=lambda wc: f"results/models/{wc.run}",
    shell:
        "attriflow train --spec-json {params.spec:q} --out {params.out} --threads {threads} > {log} 2>&1"
