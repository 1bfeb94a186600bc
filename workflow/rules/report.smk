# Reports: tables and figures per paper, a manifest per paper, and the index of all five.


rule models_table:
    input:
        lambda wc: [f"results/models/{r}/metrics.json" for r in paper_runs(wc.paper)],
    output:
        csv=report(
            "reports/{paper}/tables/models.csv",
            caption="../report/models.rst",
            category="{paper}",
        ),
        md="reports/{paper}/tables/models.md",
    log:
        "logs/report/{paper}/models.log",
    localrule: True
    conda:
        ENV
    params:
        runs=lambda wc: [f"results/models/{r}" for r in paper_runs(wc.paper)],
        scale=SCALE,
    shell:
        "attriflow report models --paper {wildcards.paper} --scale {params.scale} --out {output.csv} {params.runs} 2> {log}"


rule paper_manifest:
    input:
        outputs=lambda wc: paper_outputs(wc.paper),
        data=lambda wc: [dataset_meta(d) for d in paper_datasets(wc.paper)],
    output:
        "reports/{paper}/all",
    log:
        "logs/report/{paper}/manifest.log",
    wildcard_constraints:
        paper="|".join(PAPERS),
    localrule: True
    conda:
        ENV
    params:
        scale=SCALE,
    shell:
        "attriflow report manifest --paper {wildcards.paper} --scale {params.scale} --out {output} {input.outputs} 2> {log}"


rule index:
    input:
        manifests=expand("reports/{paper}/all", paper=PAPERS),
        methods="reports/methods/all",
        dvc="data.dvc",
    output:
        index="reports/all",
        provenance="reports/provenance.json",
        page=report(
            "reports/index.html",
            caption="../report/index.rst",
            category="overview",
        ),
        claims=report(
            "reports/claims.csv",
            caption="../report/claims.rst",
            category="overview",
        ),
    log:
        "logs/report/index.log",
    localrule: True
    conda:
        ENV
    params:
        scale=SCALE,
        seed=config["seed"],
        config_json=json.dumps(config, sort_keys=True, default=str),
    shell:
        "attriflow report index --scale {params.scale} --seed {params.seed} --out {output.index}"
        " --page {output.page} --claims {output.claims} --config-json {params.config_json:q}"
        " --captions workflow/report --benchmarks logs/benchmarks {input.manifests} 2> {log}"
