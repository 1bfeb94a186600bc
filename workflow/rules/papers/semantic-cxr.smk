# semantic-cxr (Khakzar et al. MICCAI 2021): dissection of the CXR models' last dense block, semantic
# attribution, and the study's figures and tables. Settings: config papers.semantic-cxr.
import re

from attriflow.data.views import folders_of

SCXR = config["papers"]["semantic-cxr"]
SCXR_DISSECT = SCXR["dissection"]
SCXR_STUDY = SCXR["study"]
SCXR_LAYER = SCXR_DISSECT["layer"]
SCXR_CAPTION = "../../report/semantic-cxr/{}.rst"
SCXR_ENV = "../../../environment.yml"  # relative to this file (rules/papers/), unlike common.smk's ENV


SCXR_D = SCXR_DISSECT
# the dataset markers of the probe's concept-set views
SCXR_PROBE_DATA = [
    dataset_meta(f) for f in sorted({f for v in SCXR_D["probe"] for f in folders_of(v)})
]
SCXR_PROBE_ARGS = " ".join(
    [f"--layer {SCXR_LAYER}", "--probe " + " ".join(SCXR_D["probe"])]
    + [f"--batch-size {SCXR_D['batch_size']}"]
    + [
        f"{flag} {SCXR_D[key]}"
        for key, flag in (
            ("split", "--split"),
            ("limit", "--limit"),
            ("mask_size", "--mask-size"),
        )
        if SCXR_D.get(key) is not None
    ]
)
SCXR_RESULT = f"results/dissection/{{run}}/{SCXR_LAYER}/{{name}}"
SCXR_TABLE = "reports/semantic-cxr/tables/{}.csv"
SCXR_FIGURE = "reports/semantic-cxr/figures/{}.png"
SCXR_QUESTIONS = ["severity_concepts", "weak_concepts", "init_units", "loss_units"]
SCXR_TABLES = ["concept_units", "severity", "semantic_rank", "claims"] + SCXR_QUESTIONS
SCXR_FIGURES = SCXR_QUESTIONS + ["semantic_rank"]


rule semantic_cxr_units:
    """Dissect one run's layer on the probe's concept sets: every unit labelled with its best concept."""
    input:
        model="results/models/{run}/model.pt",
        data=SCXR_PROBE_DATA,
    output:
        units=SCXR_RESULT.format(run="{run}", name="units.csv"),
        concepts=SCXR_RESULT.format(run="{run}", name="concepts.csv"),
        iou=SCXR_RESULT.format(run="{run}", name="iou.csv"),
        meta=SCXR_RESULT.format(run="{run}", name="meta.json"),
    log:
        "logs/dissection/{run}/units.log",
    benchmark:
        "logs/benchmarks/dissection/{run}/units.tsv"
    wildcard_constraints:
        run="|".join(map(re.escape, SCXR_DISSECT["runs"])),
    conda:
        SCXR_ENV
    threads: 1
    resources:
        gpu=config["resources"]["attribute"]["gpu"],
        mem_mb=config["resources"]["attribute"]["mem_mb"],
        runtime=config["resources"]["attribute"]["runtime"],
    params:
        probe=SCXR_PROBE_ARGS,
        quantile=SCXR_DISSECT["quantile"],
        iou=SCXR_DISSECT["iou_threshold"],
        seed=config["seed"],
        scale=SCALE,
    shell:
        "attriflow dissection units --run results/models/{wildcards.run} {params.probe} --quantile {params.quantile}"
        " --iou-threshold {params.iou} --seed {params.seed} --scale {params.scale} --threads {threads}"
        " --out {output.units} > {log} 2>&1"


rule semantic_cxr_semantic:
    """Semantic attribution of one run's predictions on the probe set, and a figure of examples."""
    input:
        model="results/models/{run}/model.pt",
        units=SCXR_RESULT.format(run="{run}", name="units.csv"),
        data=SCXR_PROBE_DATA,
    output:
        csv=SCXR_RESULT.format(run="{run}", name="semantic.csv"),
        figure=report(
            SCXR_FIGURE.format("semantic_{run}"),
            caption=SCXR_CAPTION.format("semantic"),
            category="semantic-cxr",
        ),
    log:
        "logs/dissection/{run}/semantic.log",
    wildcard_constraints:
        run="|".join(map(re.escape, SCXR_STUDY["semantic"])),
    conda:
        SCXR_ENV
    threads: 1
    params:
        probe=SCXR_PROBE_ARGS,
        context=" ".join(SCXR_STUDY.get("context_concepts", [])),
        examples=SCXR_STUDY["examples"],
        seed=config["seed"],
        scale=SCALE,
    shell:
        "attriflow dissection semantic --run results/models/{wildcards.run} {params.probe} --units {input.units}"
        " --context {params.context} --examples {params.examples} --seed {params.seed} --scale {params.scale}"
        " --threads {threads} --out {output.csv} --figure {output.figure} > {log} 2>&1"


rule semantic_cxr_study:
    """The four questions, severity MAEs beside the published ones, semantic attribution vs chance,
    summary.md and claims.csv."""
    input:
        units=[
            SCXR_RESULT.format(run=r, name="units.csv") for r in SCXR_DISSECT["runs"]
        ],
        semantic=[
            SCXR_RESULT.format(run=r, name="semantic.csv")
            for r in SCXR_STUDY["semantic"]
        ],
        metrics=[f"results/models/{r}/metrics.json" for r in SCXR_DISSECT["runs"]],
    output:
        **{
            f"t_{n}": report(
                SCXR_TABLE.format(n),
                caption=SCXR_CAPTION.format(n),
                category="semantic-cxr",
            )
            for n in SCXR_TABLES
        },
        **{f"md_{n}": SCXR_TABLE.format(n).replace(".csv", ".md") for n in SCXR_TABLES},
        **{
            f"f_{n}": report(
                SCXR_FIGURE.format(n),
                caption=SCXR_CAPTION.format(n),
                category="semantic-cxr",
            )
            for n in SCXR_FIGURES
        },
        summary="reports/semantic-cxr/summary.md",
    log:
        "logs/report/semantic-cxr/study.log",
    localrule: True
    conda:
        SCXR_ENV
    params:
        cfg=lambda wc: json.dumps(
            {
                **SCXR,
                "scale": SCALE,
                "specs": {r: run_spec(r) for r in SCXR_DISSECT["runs"]},
            },
            sort_keys=True,
        ),
    shell:
        "attriflow dissection study --config-json {params.cfg:q} --results results --out-dir reports/semantic-cxr 2> {log}"


PAPER_OUTPUTS["semantic-cxr"] += (
    [SCXR_TABLE.format(n) for n in SCXR_TABLES]
    + [SCXR_TABLE.format(n).replace(".csv", ".md") for n in SCXR_TABLES]
    + [SCXR_FIGURE.format(n) for n in SCXR_FIGURES]
    + [SCXR_FIGURE.format(f"semantic_{r}") for r in SCXR_STUDY["semantic"]]
    + ["reports/semantic-cxr/summary.md"]
)
