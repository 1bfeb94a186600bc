# pathways (Khakzar et al., CVPR 2021): critical pathways and the pathway gradient.
# Experiments 1-7 of PAPERS.md; the science is `attriflow pathways ...`, the shared evaluations
# (randomisation, pixel perturbation, ROAR) come from the generic rules in evaluate.smk.
PW = config["papers"]["pathways"]


include: "helpers/pathways_inputs.smk"


rule pathways_statistics:
    input:
        unpack(run_inputs),
        model="results/models/{run}/model.pt",
    output:
        response="results/pathways/{run}/response.csv",
        overlap="results/pathways/{run}/overlap.csv",
    log:
        "logs/pathways/statistics/{run}.log",
    benchmark:
        "logs/benchmarks/pathways/statistics/{run}.tsv"
    conda:
        ENV
    threads: 1
    params:
        s=PW["statistics"],
        seed=config["seed"],
        scale=SCALE,
    shell:
        "attriflow pathways statistics --run results/models/{wildcards.run} --images {params.s[images]}"
        " --sparsity {params.s[sparsity]} --steps {params.s[steps]} --gate-images {params.s[gate_images]}"
        " --gate-iterations {params.s[gate_iterations]} --seed {params.seed} --scale {params.scale}"
        " --out-dir results/pathways/{wildcards.run} > {log} 2>&1"


rule pathways_sweep:
    input:
        unpack(run_inputs),
        model="results/models/{run}/model.pt",
    output:
        csv="results/pathways/{run}/sweep.csv",
        figure=report(
            "reports/pathways/figures/sparsity_maps_{run}.png",
            caption="../../report/pathways/sparsity_maps.rst",
            category="pathways",
        ),
    log:
        "logs/pathways/sweep/{run}.log",
    conda:
        ENV
    threads: 1
    params:
        s=PW["sweep"],
        sparsities=" ".join(str(v) for v in PW["sweep"]["sparsities"]),
        seed=config["seed"],
        scale=SCALE,
    shell:
        "attriflow pathways sweep --run results/models/{wildcards.run} --images {params.s[images]}"
        " --method {params.s[method]} --sparsities {params.sparsities} --seed {params.seed} --scale {params.scale}"
        " --out-csv {output.csv} --out-figure {output.figure} > {log} 2>&1"


rule pathways_grid:
    input:
        unpack(run_inputs),
        model="results/models/{run}/model.pt",
    output:
        report(
            "reports/pathways/figures/grid_{run}.png",
            caption="../../report/pathways/grid.rst",
            category="pathways",
        ),
    log:
        "logs/pathways/grid/{run}.log",
    conda:
        ENV
    threads: 1
    params:
        methods=lambda wc: pathways_grid_methods(wc, "pathways"),
        images=PW["grid_images"],
        seed=config["seed"],
    shell:
        "attriflow pathways grid --run results/models/{wildcards.run} --images {params.images}"
        " --methods-json {params.methods:q} --seed {params.seed} --out {output} > {log} 2>&1"


rule pathways_decode:
    input:
        unpack(run_inputs),
        model="results/models/{run}/model.pt",
    output:
        report(
            "reports/pathways/figures/decoding_{run}.png",
            caption="../../report/pathways/decoding.rst",
            category="pathways",
        ),
    log:
        "logs/pathways/decode/{run}.log",
    conda:
        ENV
    threads: 1
    params:
        d=PW["decode"],
        seed=config["seed"],
    shell:
        "attriflow pathways decode --run results/models/{wildcards.run} --images {params.d[images]}"
        " --sparsity {params.d[sparsity]} --iterations {params.d[iterations]} --seed {params.seed}"
        " --out {output} > {log} 2>&1"


PATHWAYS_REPORT = {
    "tables": [
        "pathway_statistics",
        "sparsity_sweep",
        "roar",
        "pixel_perturbation",
        "sanity_checks",
        "claims",
    ],
    "figures": [
        "pathway_statistics",
        "sparsity_sweep_scores",
        "roar",
        "pixel_perturbation",
    ]
    + [f"sanity_checks_{r}" for r in PW["evaluation"]["runs"]],
}


rule pathways_report:
    input:
        **pathways_report_inputs(PW, True),
    output:
        summary=report(
            "reports/pathways/summary.md",
            caption="../../report/pathways/summary.rst",
            category="pathways",
        ),
        tables=[
            report(
                f"reports/pathways/tables/{t}.csv",
                caption=f"../../report/pathways/{t}.rst",
                category="pathways",
            )
            for t in PATHWAYS_REPORT["tables"]
        ],
        markdown=[f"reports/pathways/tables/{t}.md" for t in PATHWAYS_REPORT["tables"]],
        figures=[
            report(
                f"reports/pathways/figures/{f}.png",
                caption=report_caption("pathways", f),
                category="pathways",
            )
            for f in PATHWAYS_REPORT["figures"]
        ],
    log:
        "logs/report/pathways/report.log",
    localrule: True
    conda:
        ENV
    params:
        inputs=lambda wc, input: json.dumps(
            {k: list(v) for k, v in input.items()}, sort_keys=True
        ),
        scale=SCALE,
    shell:
        "attriflow pathways report --paper pathways --scale {params.scale} --inputs-json {params.inputs:q}"
        " --out-dir reports/pathways > {log} 2>&1"


PAPER_OUTPUTS["pathways"] += (
    ["reports/pathways/summary.md"]
    + [
        f"reports/pathways/tables/{t}.{ext}"
        for t in PATHWAYS_REPORT["tables"]
        for ext in ("csv", "md")
    ]
    + [f"reports/pathways/figures/{f}.png" for f in PATHWAYS_REPORT["figures"]]
    + [f"reports/pathways/figures/sparsity_maps_{r}.png" for r in PW["sweep"]["runs"]]
    + [f"reports/pathways/figures/grid_{r}.png" for r in PW["grids"]]
    + [f"reports/pathways/figures/decoding_{PW['decode']['run']}.png"]
)
