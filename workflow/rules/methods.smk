# Benchmark of attribution methods: every generic evaluation over benchmark.methods x benchmark.runs,
# built-in and plug-in methods alike, into reports/methods/ (tables, figures, ranking, stability, cost).
from attriflow.plugins import check_workflow_config
from attriflow.reporting.methods import report_outputs, result_files

# At parse time, before any job: publish attribution.extra to the jobs and refuse a broken plug-in by name.
PLUGINS = check_workflow_config(config)
BENCHMARK = config.get("benchmark") or {}
BENCHMARK_METHODS = BENCHMARK.get("methods", [])
BENCHMARK_RUNS = BENCHMARK.get("runs", [])
BENCHMARK_EVALUATIONS = BENCHMARK.get(
    "evaluations", ["randomisation", "class_sensitivity", "perturbation", "roar"]
)
METHODS_OUTPUTS = report_outputs(BENCHMARK_EVALUATIONS)


rule methods_report:
    input:
        result_files(
            BENCHMARK_EVALUATIONS,
            BENCHMARK_RUNS,
            BENCHMARK_METHODS,
            config["roar"]["fractions"],
            roar_seeds(),
        ),
    output:
        **{
            key: (
                report(
                    path, caption=f"../report/methods/{cap}.rst", category="methods"
                )
                if cap
                else path
            )
            for key, (path, cap) in METHODS_OUTPUTS.items()
        },
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
        roar_seeds=roar_seeds(),
        method_of=json.dumps(
            {e: method_of(e) for e in BENCHMARK_METHODS}, sort_keys=True
        ),
        plugins=[p.name for p in PLUGINS if p.kind == "method"],
        scale=SCALE,
        seed=config["seed"],
    shell:
        "attriflow report methods --methods {params.methods} --runs {params.runs}"
        " --evaluations {params.evaluations} --fractions {params.fractions} --roar-seeds {params.roar_seeds}"
        " --method-of-json {params.method_of:q} --plugins {params.plugins}"
        " --scale {params.scale} --seed {params.seed} --out-dir reports/methods 2> {log}"


rule methods_manifest:
    input:
        [path for path, _ in METHODS_OUTPUTS.values()],
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
