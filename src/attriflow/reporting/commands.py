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

    p = rsub.add_parser("index", help="reports/all and reports/provenance.json from the paper manifests")
    p.add_argument("manifests", nargs="+")
    p.add_argument("--scale", required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out", required=True)
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


def _manifest(args) -> int:
    from attriflow.reporting.manifest import write_manifest

    write_manifest(args.paper, args.scale, args.files, args.out)
    return 0


def _index(args) -> int:
    from attriflow.reporting.manifest import write_index

    write_index(args.manifests, args.scale, args.seed, args.out)
    return 0


def _verify(args) -> int:
    from attriflow.reporting.verify import verify_reports

    result = verify_reports(args.reports, args.root)
    print("\n".join(result.lines()))
    return 0 if result.clean else 1
