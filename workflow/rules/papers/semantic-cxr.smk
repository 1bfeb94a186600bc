# semantic-cxr (Khakzar et al. MICCAI 2021): dissection of the CXR models' last dense block, semantic
# attribution, and the study's figures and tables. Settings: config papers.semantic-cxr.
import re

from attriflow.data.views import folders_of

SCXR = config["papers"]["semantic-cxr"]
SCXR_DISSECT = SCXR["dissection"]
SCXR_STUDY = SCXR["study"]
SCXR_LAYER = SCXR_DISSECT["layer"]
SCXR_CAPTION = "../../report/semantic-cxr/{}.rst"


def scxr_probe_data(wildcards):
    """The dataset markers of the probe's concept-set views."""
    folders = sorted({f for view in SCXR_DISSECT["probe"] for f in folders_of(view)})
    return [dataset_meta(f) for f in folders]


def scxr_probe_args():
    d = SCXR_DISSECT
    args = [f"--layer {d['layer']}", "--probe " + " ".join(d["probe"]), f"--batch-size {d['batch_size']}"]
    for key, flag in (("split", "--split"), ("limit", "--limit"), ("mask_size", "--mask-size")):
        if d.get(key) is not None:
            args.append(f"{flag} {d[key]}")
    return " ".join(args)


def scxr_dissection(run, name):
    return f"results/dissection/{run}/{SCXR_LAYER}/{name}"


def scxr_table(name):
    return f"reports/semantic-cxr/tables/{name}.csv"


def scxr_figure(name):
    return f"reports/semantic-cxr/figures/{name}.png"


SCXR_QUESTIONS = ["severity_concepts", "weak_concepts", "init_units", "loss_units"]
SCXR_TABLES = ["concept_units", "severity", "semantic_rank", "claims"] + SCXR_QUESTIONS
SCXR_FIGURES = SCXR_QUESTIONS + ["semantic_rank"]


rule semantic_cxr_units:
    """Dissect one run's layer on the probe's concept sets: every unit labelled with its best concept."""
    input:
        model="results/models/{run}/model.pt",
        data=scxr_probe_data,
    output:
        units=scxr_dissection("{run}", "units.csv"),
        concepts=scxr_dissection("{run}", "concepts.csv"),
        iou=scxr_dissection("{run}", "iou.csv"),
        meta=scxr_dissection("{run}", "meta.json"),
    log:
        "logs/dissection/{run}/units.log",
    benchmark:
        "logs/benchmarks/dissection/{run}/units.tsv"
    wildcard_constraints:
        run="|".join(map(re.escape, SCXR_DISSECT["runs"])),
    conda:
        ENV
    threads: 1
    resources:
        gpu=config["resources"]["attribute"]["gpu"],
        mem_mb=config["resources"]["attribute"]["mem_mb"],
        runtime=config["resources"]["attribute"]["runtime"],
    params:
        probe=scxr_probe_args(),
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
        units=scxr_dissection("{run}", "units.csv"),
        data=scxr_probe_data,
    output:
        csv=scxr_dissection("{run}", "semantic.csv"),
        figure=report(
            scxr_figure("semantic_{run}"),
            caption=SCXR_CAPTION.format("semantic"),
            category="semantic-cxr",
        ),
    log:
        "logs/dissection/{run}/semantic.log",
    wildcard_constraints:
        run="|".join(map(re.escape, SCXR_STUDY["semantic"])),
    conda:
        ENV
    threads: 1
    params:
        probe=scxr_probe_args(),
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
        units=[scxr_dissection(r, "units.csv") for r in SCXR_DISSECT["runs"]],
        semantic=[scxr_dissection(r, "semantic.csv") for r in SCXR_STUDY["semantic"]],
        metrics=[f"results/models/{r}/metrics.json" for r in SCXR_DISSECT["runs"]],
    output:
        **{
            f"t_{n}": report(scxr_table(n), caption=SCXR_CAPTION.format(n), category="semantic-cxr")
            for n in SCXR_TABLES
        },
        **{f"md_{n}": scxr_table(n).replace(".csv", ".md") for n in SCXR_TABLES},
        **{
            f"f_{n}": report(scxr_figure(n), caption=SCXR_CAPTION.format(n), category="semantic-cxr")
            for n in SCXR_FIGURES
        },
        summary="reports/semantic-cxr/summary.md",
    log:
        "logs/report/semantic-cxr/study.log",
    localrule: True
    conda:
        ENV
    params:
        cfg=lambda wc: json.dumps(
            {**SCXR, "scale": SCALE, "specs": {r: run_spec(r) for r in SCXR_DISSECT["runs"]}},
            sort_keys=True,
        ),
    shell:
        "attriflow dissection study --config-json {params.cfg:q} --results results --out-dir reports/semantic-cxr 2> {log}"


PAPER_OUTPUTS["semantic-cxr"] += (
    [scxr_table(n) for n in SCXR_TABLES]
    + [scxr_table(n).replace(".csv", ".md") for n in SCXR_TABLES]
    + [scxr_figure(n) for n in SCXR_FIGURES]
    + [scxr_figure(f"semantic_{r}") for r in SCXR_STUDY["semantic"]]
    + ["reports/semantic-cxr/summary.md"]
)
