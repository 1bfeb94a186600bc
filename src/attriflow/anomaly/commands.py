"""``attriflow anomaly ...``: MKD one-class experiments and the mkd report."""

from __future__ import annotations

import argparse

from attriflow.utils.io import parse_json_object


def register(sub: argparse._SubParsersAction) -> None:
    an = sub.add_parser("anomaly", help="MKD: one-class anomaly detection and localisation")
    asub = an.add_subparsers(dest="anomaly_command", metavar="ACTION", required=True)

    p = asub.add_parser("run", help="train a cloner per one-class problem of a dataset, score and localise")
    p.add_argument("--dataset", required=True, help="name of the dataset entry (a key of papers.mkd.detection)")
    p.add_argument("--entry-json", required=True, help="the dataset entry as JSON (view, kind, epochs, loss, ...)")
    p.add_argument("--expert", required=True, help="expert run folder (results/models/<id>) or torchvision:vgg16")
    p.add_argument("--variant", default="main", help="name of this loss setting (main or an ablation)")
    p.add_argument("--overrides-json", default="{}", help="loss settings this variant changes, as JSON")
    p.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=True, help="also score the kNN (DN2) baseline")
    p.add_argument("--localise", action=argparse.BooleanOptionalAction, default=True, help="localisation maps where masks exist")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scale", required=True)
    p.add_argument("--root", default="data", help="data folder")
    p.add_argument("--weights-dir", default=None, help="folder of placed ImageNet weights (paper scale)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda (auto and cuda fall back to the CPU)")
    p.add_argument("--out", required=True, help="results folder, results/mkd/<dataset>/<variant>")
    p.set_defaults(func=_run)

    p = asub.add_parser("report", help="reports/mkd: detection, localisation and ablation tables, figures, summary, claims")
    p.add_argument("--main", nargs="+", required=True, help="results folders of the main variant, one per dataset")
    p.add_argument("--ablations", nargs="*", default=[], help="results folders of ablation variants")
    p.add_argument("--scale", required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out", required=True, help="reports/mkd")
    p.set_defaults(func=_report)


def _run(args) -> int:
    import torch

    from attriflow.anomaly.experiment import run_dataset

    if args.threads:
        torch.set_num_threads(args.threads)
    paths = run_dataset(args.dataset, parse_json_object(args.entry_json, "--entry-json"), args.expert, args.out,
                        variant=args.variant, overrides=parse_json_object(args.overrides_json, "--overrides-json"),
                        baseline=args.baseline, localise_maps=args.localise, seed=args.seed, scale=args.scale,
                        root=args.root, weights_dir=args.weights_dir, device=args.device, progress=True)
    import pandas as pd

    det = pd.read_csv(paths["detection"])
    for (method, protocol), g in det.groupby(["method", "protocol"]):
        print(f"{args.dataset} [{args.variant}] {method} ({protocol} protocol): mean AUROC {g['auroc'].mean():.3f} over {len(g)} classes")
    loc = pd.read_csv(paths["localization"])
    for (method, protocol), g in loc.groupby(["method", "protocol"]):
        print(f"{args.dataset} [{args.variant}] localisation {method} ({protocol} protocol): mean pixel AUROC {g['pixel_auroc'].mean():.3f}")
    return 0


def _report(args) -> int:
    from attriflow.reporting.papers.mkd import build_report

    for line in build_report(args.main, args.ablations, args.out, scale=args.scale, seed=args.seed):
        print(line)
    return 0
