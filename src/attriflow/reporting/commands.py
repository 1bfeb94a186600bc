"""``attriflow report ...``: tables, per-paper manifests and the index."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    rep = sub.add_parser("report", help="build report tables, manifests and the index")
    rsub = rep.add_subparsers(dest="report_command", metavar="ACTION", required=True)

    p = rsub.add_parser("models", help="table of trained models and their test metrics")
    p.add_argument("runs", nargs="*", help="run folders results/models/<id>")
    p.add_argument("--paper", required=True)
    p.add_argument("--scale", required=True)
    p.add_argument("--out", required=True, help="CSV path; a Markdown twin is written beside it")
    p.set_defaults(func=_models)

    p = rsub.add_parser("manifest", help="reports/<paper>/all: every figure and table with its SHA-256")
    p.add_argument("files", nargs="*")
    p.add_argument("--paper", required=True)
    p.add_argument("--scale", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=_manifest)

    p = rsub.add_parser("methods", help="reports/methods: every benchmarked method on every benchmark, ranked, with costs")
    p.add_argument("--methods", nargs="+", required=True, help="entries of config attribution.methods (benchmark.methods)")
    p.add_argument("--runs", nargs="+", required=True, help="run ids (benchmark.runs)")
    p.add_argument("--evaluations", nargs="+", required=True, help="benchmarks: randomisation class_sensitivity perturbation roar")
    p.add_argument("--fractions", nargs="*", type=int, default=[], help="ROAR's removed percentages")
    p.add_argument("--roar-seeds", nargs="+", type=int, default=[0], help="ROAR's training seeds (roar.seeds)")
    p.add_argument("--method-of-json", default="{}", help="entry -> registered method, for alias entries")
    p.add_argument("--plugins", nargs="*", default=[], help="method names that come from plug-ins")
    p.add_argument("--scale", required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--root", default=".", help="folder holding results/ and logs/")
    p.add_argument("--out-dir", required=True)
    p.set_defaults(func=_methods)

    p = rsub.add_parser("index", help="reports/all and reports/provenance.json from the paper manifests")
    p.add_argument("manifests", nargs="+")
    p.add_argument("--scale", required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--page", help="also write this HTML page (reports/index.html) from the manifests")
    p.add_argument("--claims", help="also collect every paper's tables/claims.csv into this CSV (reports/claims.csv)")
    p.add_argument("--config-json", help="the workflow's config as JSON: its hash and device go into the page, captions see it")
    p.add_argument("--captions", help="folder of report captions, <folder>/<paper>/<name>.rst (workflow/report)")
    p.add_argument("--benchmarks", help="Snakemake benchmark folder for the wall time per rule (logs/benchmarks)")
    p.set_defaults(func=_index)

    p = sub.add_parser("verify", help="recompute the SHA-256 of every file the manifests of reports/ list; say what changed")
    p.add_argument("--reports", default="reports", help="the reports folder (default: reports)")
    p.add_argument("--root", default=None, help="folder the manifest paths are relative to (default: the parent of --reports)")
    p.set_defaults(func=_verify)


def _models(args) -> int:
    from attriflow.reporting.models_table import models_table
    from attriflow.reporting.tables import write_table

    df = models_table([Path(r) for r in args.runs], scale=args.scale, paper=args.paper)
    write_table(df, args.out, title=f"{args.paper}: trained models at scale {args.scale}",
                note="Test-split metrics of each model; columns 'published' and 'source' hold the papers' numbers where one exists.")
    return 0


def _methods(args) -> int:
    import json

    from attriflow.reporting.methods import build_methods_report

    build_methods_report(args.methods, args.runs, args.fractions, args.evaluations, args.out_dir,
                         method_of=json.loads(args.method_of_json), plugins=args.plugins, scale=args.scale,
                         seed=args.seed, roar_seeds=args.roar_seeds, root=args.root)
    return 0


def _manifest(args) -> int:
    from attriflow.reporting.manifest import write_manifest

    write_manifest(args.paper, args.scale, args.files, args.out)
    return 0


def _index(args) -> int:
    from attriflow.reporting.manifest import write_index

    prov = write_index(args.manifests, args.scale, args.seed, args.out)
    if args.page or args.claims:
        import json

        from attriflow.reporting.claims import collect_claims, write_claims
        from attriflow.reporting.page import build_page, read_manifest

        manifests = {Path(m).parent.name: Path(m) for m in args.manifests}
        claim_files = [f for m in manifests.values() for f in read_manifest(m) if f.name == "claims.csv"]
        claims = collect_claims(claim_files)
        if args.claims:
            write_claims(claims, args.claims)
        if args.page:
            config = json.loads(args.config_json) if args.config_json else None
            build_page(manifests, args.page, provenance=prov, claims=claims, config=config,
                       captions_dir=args.captions, benchmarks_dir=args.benchmarks)
    return 0


def _verify(args) -> int:
    from attriflow.reporting.verify import verify_reports

    result = verify_reports(args.reports, args.root)
    print("\n".join(result.lines()))
    return 0 if result.clean else 1
