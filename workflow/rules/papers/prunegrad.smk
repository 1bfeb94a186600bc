# prunegrad (Khakzar et al., arXiv 1911.11081): PruneGrad = pathway gradient with NeuronMCT selection.
# Experiments 1-3 of PAPERS.md (sanity checks, pixel perturbation, ROAR) from the generic evaluations;
# the qualitative grid reuses `attriflow pathways grid`. Helpers come from pathways.smk.
PG = config["papers"]["prunegrad"]

PRUNEGRAD_REPORT = {
    "tables": ["roar", "pixel_perturbation", "sanity_checks", "claims"],
    "figures": ["roar", "pixel_perturbation"]
    + [f"sanity_checks_{r}" for r in PG["evaluation"]["runs"]],
}


rule prunegrad_grid:
    input:
        unpack(run_inputs),
        model="results/models/{run}/model.pt",
    output:
        report(
            "reports/prunegrad/figures/grid_{run}.png",
            caption="../../report/prunegrad/grid.rst",
            category="prunegrad",
        ),
    log:
        "logs/prunegrad/grid/{run}.log",
    conda:
        ENV
    threads: 1
    params:
        methods=lambda wc: pathways_grid_methods(wc, "prunegrad"),
        images=PG["grid_images"],
        seed=config["seed"],
    shell:
        "attriflow pathways grid --run results/models/{wildcards.run} --images {params.images}"
        " --methods-json {params.methods:q} --seed {params.seed} --out {output} > {log} 2>&1"


rule prunegrad_report:
    input:
        **pathways_report_inputs(PG, False),
    output:
        summary=report(
            "reports/prunegrad/summary.md",
            caption="../../report/prunegrad/summary.rst",
            category="prunegrad",
        ),
        tables=[
            report(
                f"reports/prunegrad/tables/{t}.csv",
                caption=f"../../report/prunegrad/{t}.rst",
                category="prunegrad",
            )
            for t in PRUNEGRAD_REPORT["tables"]
        ],
        markdown=[
            f"reports/prunegrad/tables/{t}.md" for t in PRUNEGRAD_REPORT["tables"]
        ],
        figures=[
            report(
                f"reports/prunegrad/figures/{f}.png",
                caption=report_caption("prunegrad", f),
                category="prunegrad",
            )
            for f in PRUNEGRAD_REPORT["figures"]
        ],
    log:
        "logs/report/prunegrad/report.log",
    localrule: True
    conda:
        ENV
    params:
        inputs=lambda wc, input: json.dumps(
            {k: list(v) for k, v in input.items()}, sort_keys=True
        ),
        scale=SCALE,
    shell:
        "attriflow pathways report --paper prunegrad --scale {params.scale} --inputs-json {params.inputs:q}"
        " --out-dir reports/prunegrad > {log} 2>&1"


PAPER_OUTPUTS["prunegrad"] += (
    ["reports/prunegrad/summary.md"]
    + [
        f"reports/prunegrad/tables/{t}.{ext}"
        for t in PRUNEGRAD_REPORT["tables"]
        for ext in ("csv", "md")
    ]
    + [f"reports/prunegrad/figures/{f}.png" for f in PRUNEGRAD_REPORT["figures"]]
    + [f"reports/prunegrad/figures/grid_{r}.png" for r in PG["grids"]]
)
