# Generic evaluations, shared by every paper: keyed on (run, method entry), written to results/eval/ and
# results/roar/. A paper's rule file requests these files and turns them into its figures and tables.


rule roar:
    """One ROAR point: the run retrained from scratch on its splits with the top pixels removed."""
    input:
        model="results/models/{run}/model.pt",
        maps=expand(
            "results/attributions/{{run}}/{split}/{{entry}}.npz",
            split=["train", "val", "test"],
        ),
    output:
        "results/roar/{run}/{entry}/{fraction}/seed{seed}/metrics.json",
    log:
        "logs/roar/{run}/{entry}/{fraction}/seed{seed}.log",
    benchmark:
        "logs/benchmarks/roar/{run}/{entry}/{fraction}/seed{seed}.tsv"
    wildcard_constraints:
        fraction=r"[1-9]\d*",
        seed=r"\d+",
    conda:
        ENV
    threads: 1
    resources:
        gpu=config["resources"]["train"]["gpu"],
        mem_mb=config["resources"]["train"]["mem_mb"],
        runtime=config["resources"]["train"]["runtime"],
    params:
        epochs=roar_epochs_arg(),
        out=lambda wc: f"results/roar/{wc.run}/{wc.entry}/{wc.fraction}/seed{wc.seed}",
    shell:
        "attriflow roar --run results/models/{wildcards.run} --maps {input.maps} --fraction {wildcards.fraction}"
        " --entry {wildcards.entry} {params.epochs} --seed {wildcards.seed} --threads {threads} --out {params.out} > {log} 2>&1"


rule roar_unmodified:
    """ROAR's 0% point: the run retrained from scratch on the unmodified splits with the same budget."""
    input:
        model="results/models/{run}/model.pt",
    output:
        "results/roar/{run}/none/0/seed{seed}/metrics.json",
    log:
        "logs/roar/{run}/none/0/seed{seed}.log",
    benchmark:
        "logs/benchmarks/roar/{run}/none/0/seed{seed}.tsv"
    wildcard_constraints:
        seed=r"\d+",
    conda:
        ENV
    threads: 1
    resources:
        gpu=config["resources"]["train"]["gpu"],
        mem_mb=config["resources"]["train"]["mem_mb"],
        runtime=config["resources"]["train"]["runtime"],
    params:
        epochs=roar_epochs_arg(),
    shell:
        "attriflow roar --run results/models/{wildcards.run} --fraction 0 --entry none {params.epochs}"
        " --seed {wildcards.seed} --threads {threads} --out results/roar/{wildcards.run}/none/0/seed{wildcards.seed} > {log} 2>&1"


rule evaluate_maps:
    """Randomisation or class sensitivity of one method entry on a run's first test images."""
    input:
        unpack(run_inputs),
        model="results/models/{run}/model.pt",
    output:
        "results/eval/{kind}/{run}/{entry}.csv",
    log:
        "logs/eval/{kind}/{run}/{entry}.log",
    benchmark:
        "logs/benchmarks/eval/{kind}/{run}/{entry}.tsv"
    wildcard_constraints:
        kind="randomisation|class_sensitivity",
    conda:
        ENV
    threads: 1
    resources:
        gpu=config["resources"]["attribute"]["gpu"],
        mem_mb=config["resources"]["attribute"]["mem_mb"],
        runtime=config["resources"]["attribute"]["runtime"],
    params:
        method=lambda wc: method_of(wc.entry),
        method_params=lambda wc: method_params_json(wc.entry),
        settings=lambda wc: json.dumps(config["evaluation"][wc.kind], sort_keys=True),
        limit=config["evaluation"]["limit"],
        seed=config["seed"],
    shell:
        "attriflow evaluate {wildcards.kind} --run results/models/{wildcards.run} --method {params.method}"
        " --entry {wildcards.entry} --params-json {params.method_params:q} --settings-json {params.settings:q}"
        " --limit {params.limit} --seed {params.seed} --threads {threads} --out {output} > {log} 2>&1"


rule evaluate_perturbation:
    """Pixel perturbation of one method entry's stored test maps."""
    input:
        unpack(run_inputs),
        model="results/models/{run}/model.pt",
        maps="results/attributions/{run}/test/{entry}.npz",
    output:
        "results/eval/perturbation/{run}/{entry}.csv",
    log:
        "logs/eval/perturbation/{run}/{entry}.log",
    benchmark:
        "logs/benchmarks/eval/perturbation/{run}/{entry}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        gpu=config["resources"]["attribute"]["gpu"],
        mem_mb=config["resources"]["attribute"]["mem_mb"],
        runtime=config["resources"]["attribute"]["runtime"],
    params:
        method=lambda wc: method_of(wc.entry),
        settings=json.dumps(config["evaluation"]["perturbation"], sort_keys=True),
        limit=config["evaluation"]["limit"],
        seed=config["seed"],
    shell:
        "attriflow evaluate perturbation --run results/models/{wildcards.run} --method {params.method}"
        " --entry {wildcards.entry} --maps {input.maps} --settings-json {params.settings:q}"
        " --limit {params.limit} --seed {params.seed} --threads {threads} --out {output} > {log} 2>&1"
