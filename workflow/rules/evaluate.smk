# Evaluations that need their own jobs: ROAR retrains one model per (method, fraction).


rule roar:
    input:
        model="results/models/{run}/model.pt",
        maps=expand(
            "results/attributions/{{run}}/{split}/{{method}}.npz",
            split=["train", "val", "test"],
        ),
    output:
        "results/roar/{run}/{method}/{fraction}/metrics.json",
    log:
        "logs/roar/{run}/{method}/{fraction}.log",
    benchmark:
        "logs/benchmarks/roar/{run}/{method}/{fraction}.tsv"
    wildcard_constraints:
        fraction=r"\d+",
    conda:
        ENV
    threads: workflow.cores
    resources:
        gpu=config["resources"]["train"]["gpu"],
        mem_mb=config["resources"]["train"]["mem_mb"],
        runtime=config["resources"]["train"]["runtime"],
    params:
        epochs=config["roar"]["epochs"],
        out=lambda wc: f"results/roar/{wc.run}/{wc.method}/{wc.fraction}",
    shell:
        "attriflow roar --run results/models/{wildcards.run} --maps {input.maps} --fraction {wildcards.fraction}"
        " --epochs {params.epochs} --out {params.out} > {log} 2>&1"
