# Reports: tables and figures per paper, a manifest per paper, and the index of all five.


rule models_table:
    input:
        lambda wc: [f"results/models/{r}/metrics.json" for r in paper_runs(wc.paper)],
    output:
        csv=report("reports/{paper}/tables/models.csv", caption="../report/models.rst", category="{paper}"),
        md="reports/{paper}/tables/models.md",
    params:
        runs=lambda wc: [f"results/models/{r}" for r in paper_runs(wc.paper)],
    localrule: True
    shell:
        "attriflow report models --paper {wildcards.paper} --scale {SCALE} --out {output.csv} {params.runs}"


rule paper_manifest:
    input:
        outputs=lambda wc: paper_outputs(wc.paper),
        data=lambda wc: [dataset_meta(d) for d in paper_datasets(wc.paper)],
        dvc="data.dvc",
    output:
        "reports/{paper}/all",
    wildcard_constraints:
        paper="|".join(PAPERS),
    localrule: True
    shell:
        "attriflow report manifest --paper {wildcards.paper} --scale {SCALE} --out {output} {input.outputs}"


rule index:
    input:
        expand("reports/{paper}/all", paper=PAPERS),
    output:
        index="reports/all",
        provenance="reports/provenance.json",
    localrule: True
    shell:
        "attriflow report index --scale {SCALE} --seed {config[seed]} --out {output.index} {input}"
