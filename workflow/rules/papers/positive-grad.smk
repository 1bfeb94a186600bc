# positive-grad (Khakzar et al., ICML-WHI 2020): positive aggregation and propagation of gradients.
# The generic rules (evaluate.smk) compute class sensitivity and cascading randomisation per
# (run, method entry); these rules turn them into the paper's tables, figures, claims and summary.
PG = config["papers"]["positive-grad"]
# results/eval/<kind>/<run>/<entry>.csv for every run and method entry of the paper
PG_EVAL = {
    kind: [
        eval_output(kind, run, entry)
        for run in paper_runs("positive-grad")
        for entry in PG["methods"]
    ]
    for kind in ("class_sensitivity", "randomisation")
}
# the paper's method entries with their config values (an alias names its registered method)
PG_ENTRIES = json.dumps({e: method_entry(e) for e in PG["methods"]}, sort_keys=True)


rule positive_grad_tables:
    input:
        class_sensitivity=PG_EVAL["class_sensitivity"],
        randomisation=PG_EVAL["randomisation"],
    output:
        class_sensitivity=report(
            "reports/positive-grad/tables/class_sensitivity.csv",
            caption="../../report/positive-grad/class_sensitivity.rst",
            category="positive-grad",
        ),
        class_sensitivity_md="reports/positive-grad/tables/class_sensitivity.md",
        randomization=report(
            "reports/positive-grad/tables/randomization.csv",
            caption="../../report/positive-grad/randomization.rst",
            category="positive-grad",
        ),
        randomization_md="reports/positive-grad/tables/randomization.md",
        claims=report(
            "reports/positive-grad/tables/claims.csv",
            caption="../../report/positive-grad/claims.rst",
            category="positive-grad",
        ),
        claims_md="reports/positive-grad/tables/claims.md",
        boxes=report(
            "reports/positive-grad/figures/ssim_boxplots.png",
            caption="../../report/positive-grad/ssim_boxplots.rst",
            category="positive-grad",
        ),
        curves=report(
            "reports/positive-grad/figures/randomization_curves.png",
            caption="../../report/positive-grad/randomization_curves.rst",
            category="positive-grad",
        ),
        summary=report(
            "reports/positive-grad/summary.md",
            caption="../../report/positive-grad/summary.rst",
            category="positive-grad",
        ),
    log:
        "logs/positive-grad/tables.log",
    localrule: True
    conda:
        ENV
    params:
        entries=PG_ENTRIES,
        threshold=PG.get("threshold", 0.6),
        scale=SCALE,
    shell:
        "attriflow positive-grad tables --class-sensitivity {input.class_sensitivity}"
        " --randomisation {input.randomisation} --entries-json {params.entries:q}"
        " --threshold {params.threshold} --scale {params.scale} --out reports/positive-grad > {log} 2>&1"


rule positive_grad_class_grid:
    input:
        unpack(run_inputs),
        model="results/models/{run}/model.pt",
    output:
        report(
            "reports/positive-grad/figures/class_grid_{run}.png",
            caption="../../report/positive-grad/class_grid.rst",
            category="positive-grad",
        ),
    log:
        "logs/positive-grad/class_grid/{run}.log",
    benchmark:
        "logs/benchmarks/positive-grad/class_grid/{run}.tsv"
    conda:
        ENV
    threads: 1
    params:
        entries=PG_ENTRIES,
        images=PG.get("grid_images", 3),
        seed=config["seed"],
    shell:
        "attriflow positive-grad grid --run results/models/{wildcards.run} --entries-json {params.entries:q}"
        " --images {params.images} --seed {params.seed} --out {output} > {log} 2>&1"


PAPER_OUTPUTS["positive-grad"] += [
    "reports/positive-grad/tables/class_sensitivity.csv",
    "reports/positive-grad/tables/class_sensitivity.md",
    "reports/positive-grad/tables/randomization.csv",
    "reports/positive-grad/tables/randomization.md",
    "reports/positive-grad/tables/claims.csv",
    "reports/positive-grad/tables/claims.md",
    "reports/positive-grad/figures/ssim_boxplots.png",
    "reports/positive-grad/figures/randomization_curves.png",
    "reports/positive-grad/summary.md",
] + [
    f"reports/positive-grad/figures/class_grid_{run}.png"
    for run in paper_runs("positive-grad")
]
