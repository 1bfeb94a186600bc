# semantic-cxr (Khakzar et al. MICCAI 2021): dissection of the CXR models' last dense block, semantic
# attribution, and the study's figures and tables. Settings: config papers.semantic-cxr.
# Every dissected run that trains is repeated once per seed of papers.semantic-cxr.seeds: the run is
# the repeat at its own seed, a copy <run>-seed<k> (added to config `runs`, trained by `train`) each
# other; dissection and semantic attribution run on every repeat, the study reports the mean over seeds.
import re

from attriflow.data.views import folders_of

SCXR = config["papers"]["semantic-cxr"]
SCXR_DISSECT = SCXR["dissection"]
SCXR_STUDY = SCXR["study"]
SCXR_LAYER = SCXR_DISSECT["layer"]
SCXR_CAPTION = "../../report/semantic-cxr/{}.rst"
SCXR_ENV = "../../../environment.yml"  # relative to this file (rules/papers/), unlike common.smk's ENV


include: "helpers/semantic_cxr_inputs.smk"


SCXR_COPIES = scxr_add_copies()  # once, at parse time
SCXR_REPEATS = scxr_repeats()  # base run -> {seed: run id}
SCXR_UNIT_IDS = scxr_ids(SCXR_DISSECT["runs"])
SCXR_SEMANTIC_IDS = scxr_ids(SCXR_STUDY["semantic"])

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
        run=scxr_pattern(SCXR_UNIT_IDS),
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
    """Semantic attribution of one run's predictions on the probe set, and a figure of examples
    (a seed copy's figure stays beside its results: the report shows the configured run's).
    """
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
        run=scxr_pattern(SCXR_STUDY["semantic"]),
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


use rule semantic_cxr_semantic as semantic_cxr_semantic_repeat with:
    output:
        csv=SCXR_RESULT.format(run="{run}", name="semantic.csv"),
        figure=SCXR_RESULT.format(run="{run}", name="semantic.png"),
    log:
        "logs/dissection/{run}/semantic.log",
    wildcard_constraints:
        run=scxr_pattern([r for r in SCXR_SEMANTIC_IDS if r in SCXR_COPIES]),


rule semantic_cxr_study:
    """The four questions, severity MAEs beside the published ones, semantic attribution vs chance,
    summary.md and claims.csv."""
    input:
        units=[SCXR_RESULT.format(run=r, name="units.csv") for r in SCXR_UNIT_IDS],
        semantic=[
            SCXR_RESULT.format(run=r, name="semantic.csv") for r in SCXR_SEMANTIC_IDS
        ],
        metrics=[f"results/models/{r}/metrics.json" for r in SCXR_UNIT_IDS],
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
                "specs": {r: run_spec(r) for r in SCXR_UNIT_IDS},
                "repeats": {
                    b: {str(k): r for k, r in ids.items()}
                    for b, ids in SCXR_REPEATS.items()
                },
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
