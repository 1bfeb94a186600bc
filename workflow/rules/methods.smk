# Benchmark of attribution methods: every generic evaluation over benchmark.methods x benchmark.runs,
# built-in and plug-in methods alike, into reports/methods/ (tables, figures, ranking, stability, cost).
from pathlib import Path

from attriflow.plugins import check_workflow_config
from attriflow.reporting.methods import output_names, result_files

# At parse time, before any job: publish attribution.extra to the jobs and refuse a broken plug-in by name.
PLUGINS = check_workflow_config(config)
BENCHMARK = config.get("benchmark") or {}
BENCHMARK_METHODS = BENCHMARK.get("methods", [])
BENCHMARK_RUNS = BENCHMARK.get("runs", [])
BENCHMARK_EVALUATIONS = BENCHMARK.get(
    "evaluations", ["randomisation", "class_sensitivity", "perturbation", "roar"]
)
METHODS_REPORT = [
    f"reports/methods/{name}" for name in output_names(BENCHMARK_EVALUATIONS)
]


def benchmark_method_of():
    """Entry of attribution.methods -> the registered method it runs (alias entries name theirs)."""
    entries = config["attribution"]["methods"]
    return {e: (entries.get(e) or {}).get("method", e) for e in BENCHMARK_METHODS}


def methods_report_outputs():
    """reports/methods/* by name; tables (CSV), figures and the summary get a caption in the report."""
    out = {}
    for path in METHODS_REPORT:
        p = Path(path)
        key = f"{p.parent.name}_{p.stem}_{p.suffix[1:]}"
        shown = p.suffix in (".csv", ".png") or p.name == "summary.md"
        caption = f"../report/methods/{p.stem}.rst"
        out[key] = report(path, caption=caption, category="methods") if shown else path
    return out


rule methods_report:
    input:
        result_files(
            BENCHMARK_EVALUATIONS,
            BENCHMARK_RUNS,
            BENCHMARK_METHODS,
            config["roar"]["fractions"],
        ),
    output:
        **methods_report_outputs(),
    log:
        "logs/report/methods/report.log",
    localrule: True
    conda:
        ENV
    params:
        methods=BENCHMARK_METHODS,
        runs=BENCHMARK_RUNS,
        evaluations=BENCHMARK_EVALUATIONS,
        fractions=config["roar"]["fractions"],
        method_of=json.dumps(benchmark_method_of(), sort_keys=True),
        plugins=[p.name for p in PLUGINS if p.kind == "method"],
        scale=SCALE,
        seed=config["seed"],
    shell:
        "attriflow report methods --methods {params.methods} --runs {params.runs}"
        " --evaluations {params.evaluations} --fractions {params.fractions}"
        " --method-of-json {params.method_of:q} --plugins {params.plugins}"
        " --scale {params.scale} --seed {params.seed} --out-dir reports/methods 2> {log}"


rule methods_manifest:
    input:
        METHODS_REPORT,
    output:
        "reports/methods/all",
    log:
        "logs/report/methods/manifest.log",
    localrule: True
    conda:
        ENV
    params:
        scale=SCALE,
    shell:
        "attriflow report manifest --paper methods --scale {params.scale} --out {output} {input} 2> {log}"
