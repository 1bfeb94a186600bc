"""``attriflow models`` (list the model names) and ``attriflow train`` (train one run from its spec)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from attriflow.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list the model names create_model and train accept")
    p.add_argument("--pattern", default="*", help="shell-style filter, e.g. 'vgg*'")
    p.add_argument("--timm", action="store_true", help="also list every timm architecture (as timm:<name>)")
    p.set_defaults(func=_models)

    p = sub.add_parser("train", help="train one model from its spec; resumes from OUT/checkpoint.pt after a kill",
                       description="Train one run. Writes OUT/{model.pt,metrics.csv,config.yaml,metrics.json}.")
    spec = p.add_mutually_exclusive_group(required=True)
    spec.add_argument("--spec", metavar="FILE", help="the run's spec, a JSON (or YAML) file")
    spec.add_argument("--spec-json", metavar="JSON", help="the run's spec as a JSON string")
    p.add_argument("--out", required=True, help="run folder, results/models/<run-id>")
    p.add_argument("--runs-dir", default=None, help="where runs named by `init` live (default: the parent of --out)")
    p.add_argument("--weights-dir", default=None, help="folder of placed ImageNet weights (default: $ATTRIFLOW_WEIGHTS_DIR or ./weights)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--stop-after-epochs", type=int, default=None, metavar="K",
                   help="stop after K epochs of this call, keeping the checkpoint (simulates a kill; for tests)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="tqdm progress bars (default: only on a terminal)")
    p.set_defaults(func=_train)


def _models(args) -> int:
    from attriflow.models.registry import SMALL_NETS, list_models

    for name in list_models(args.pattern, timm=args.timm):
        about = SMALL_NETS[name].about if name in SMALL_NETS else ("timm" if name.startswith("timm:") else "torchvision")
        print(f"{name:22s} {about}")
    if not args.timm:
        print("(and any timm architecture as timm:<name>; list them with --timm)")
    return 0


def read_spec(args) -> dict:
    """The spec given on the command line, from a file or a JSON string."""
    if args.spec_json is not None:
        source, text = "--spec-json", args.spec_json
    else:
        path = Path(args.spec)
        if not path.is_file():
            raise UserError(f"--spec {path}: no such file")
        source, text = str(path), path.read_text(encoding="utf-8")
        if path.suffix in (".yaml", ".yml"):
            import yaml

            return yaml.safe_load(text)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{source}: not valid JSON ({exc})") from exc


def _train(args) -> int:
    import torch

    from attriflow.models.training import train_run

    if args.threads:
        torch.set_num_threads(args.threads)
    result = train_run(read_spec(args), args.out, runs_dir=args.runs_dir, weights_dir=args.weights_dir,
                       stop_after=args.stop_after_epochs, progress=args.progress)
    if result is None:
        print(f"stopped early as asked; rerun to continue from {Path(args.out) / 'checkpoint.pt'}")
        return 0
    metric = result["selection"]["metric"]
    print(f"{result['run']}: test {metric} {result['test'].get(metric)} (chance {result['chance'].get(metric)}), "
          f"best val epoch {result['selection']['epoch']}, {result['train_seconds']:.1f} s training")
    return 0
