# mkd: multiresolution knowledge distillation for anomaly detection (Salehi et al. CVPR 2021).
# One job per (dataset, loss variant, seed) trains a cloner per one-class problem and scores it
# (`attriflow anomaly run`); one job turns every result into the paper's tables and figures. The main
# loss runs for every seed of papers.mkd.seeds, the ablations for the first.
MKD = config["papers"]["mkd"]
MKD_SHARED = ("normalise", "loss", "protocols", "localisation", "knn_k")
MKD_TABLES = ["detection", "localization", "ablation", "claims"]
MKD_FIGURES = ["detection_auroc", "score_histograms", "roc_curves", "localization_maps"]
MKD_ENV = "../../../environment.yml"  # relative to this file (rules/papers/), unlike common.smk's ENV


include: "helpers/mkd_inputs.smk"


rule mkd_detection:
    input:
        unpack(mkd_inputs),
    output:
        detection="results/mkd/{dataset}/{variant}/seed{seed}/detection.csv",
        scores="results/mkd/{dataset}/{variant}/seed{seed}/scores.csv",
        history="results/mkd/{dataset}/{variant}/seed{seed}/history.csv",
        localization="results/mkd/{dataset}/{variant}/seed{seed}/localization.csv",
        examples="results/mkd/{dataset}/{variant}/seed{seed}/examples.npz",
        provenance="results/mkd/{dataset}/{variant}/seed{seed}/provenance.json",
    log:
        "logs/mkd/{dataset}/{variant}/seed{seed}.log",
    benchmark:
        "logs/benchmarks/mkd/{dataset}/{variant}/seed{seed}.tsv"
    wildcard_constraints:
        seed=r"\d+",
        dataset="|".join(MKD["detection"]) or "none",
        variant="|".join(["main", *mkd_variants()]),
    conda:
        MKD_ENV
    threads: 1
    resources:
        gpu=config["resources"]["train"]["gpu"],
        mem_mb=config["resources"]["train"]["mem_mb"],
        runtime=config["resources"]["train"]["runtime"],
    params:
        entry=lambda wc: json.dumps(mkd_entry(wc.dataset), sort_keys=True),
        overrides=lambda wc: json.dumps(mkd_overrides(wc.variant), sort_keys=True),
        expert=mkd_expert(),
        extra=lambda wc: "" if wc.variant == "main" else "--no-baseline --no-localise",
        out=lambda wc: f"results/mkd/{wc.dataset}/{wc.variant}/seed{wc.seed}",
        scale=SCALE,
        device=config["device"],
    shell:
        "attriflow anomaly run --dataset {wildcards.dataset} --variant {wildcards.variant} --entry-json {params.entry:q}"
        " --overrides-json {params.overrides:q} --expert {params.expert} {params.extra} --seed {wildcards.seed}"
        " --scale {params.scale} --device {params.device} --threads {threads} --out {params.out} > {log} 2>&1"


rule mkd_report:
    input:
        main=[
            f"{d}/{f}"
            for d in mkd_main_dirs()
            for f in (
                "detection.csv",
                "scores.csv",
                "localization.csv",
                "examples.npz",
            )
        ],
        ablations=[f"{d}/detection.csv" for d in mkd_ablation_dirs()],
    output:
        **{
            name: report(
                f"reports/mkd/tables/{name}.csv",
                caption=f"../../report/mkd/{name}.rst",
                category="mkd",
            )
            for name in MKD_TABLES
        },
        **{f"{name}_md": f"reports/mkd/tables/{name}.md" for name in MKD_TABLES},
        **{
            name: report(
                f"reports/mkd/figures/{name}.png",
                caption=f"../../report/mkd/{name}.rst",
                category="mkd",
            )
            for name in MKD_FIGURES
        },
        summary="reports/mkd/summary.md",
    log:
        "logs/report/mkd/report.log",
    localrule: True
    conda:
        MKD_ENV
    params:
        main=mkd_main_dirs(),
        ablations=mkd_ablation_dirs(),
        scale=SCALE,
        seed=config["seed"],
    shell:
        "attriflow anomaly report --main {params.main} --ablations {params.ablations} --scale {params.scale}"
        " --seed {params.seed} --out reports/mkd 2> {log}"


PAPER_OUTPUTS["mkd"] += (
    [f"reports/mkd/tables/{n}.{ext}" for n in MKD_TABLES for ext in ("csv", "md")]
    + [f"reports/mkd/figures/{n}.png" for n in MKD_FIGURES]
    + ["reports/mkd/summary.md"]
)
