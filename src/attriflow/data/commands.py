"""``attriflow data ...``: list, generate, fetch and locate datasets."""

from __future__ import annotations

import argparse
from pathlib import Path

from attriflow.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="list, generate, download or locate datasets")
    dsub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    p = dsub.add_parser("list", help="every dataset the workflow knows, with its kind")
    p.set_defaults(func=_list)

    p = dsub.add_parser("views", help="every real dataset view a run can name (dataset:), with its folders and splits")
    p.add_argument("--root", default=None, help="also check which views are loadable from this data folder")
    p.set_defaults(func=_views)

    p = dsub.add_parser("generate", help="write an embedded dataset to ROOT/NAME (deterministic from the seed)")
    p.add_argument("name")
    p.add_argument("--root", default="data")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_generate)

    p = dsub.add_parser("fetch", help="download a public dataset with checksum checks into ROOT/NAME")
    p.add_argument("name")
    p.add_argument("--root", default="data")
    p.add_argument("--url", action="append", default=[], metavar="FILE=URL", help="fetch FILE from URL instead (a mirror)")
    p.set_defaults(func=_fetch)

    p = dsub.add_parser("locate", help="check a registration-only dataset at PATH and link it into ROOT/NAME")
    p.add_argument("name")
    p.add_argument("--path", default=None)
    p.add_argument("--root", default="data")
    p.set_defaults(func=_locate)


def _list(args) -> int:
    from attriflow.data import registry
    from attriflow.data.embedded import GENERATORS

    for name in sorted(GENERATORS):
        print(f"{name:18s} embedded      generated here")
    for ds in registry.registry().values():
        print(f"{ds.name:18s} {ds.kind:13s} {ds.description} [{', '.join(ds.papers)}]")
    return 0


def _views(args) -> int:
    from attriflow.data.loading import load_dataset
    from attriflow.data.real import REAL_VIEWS
    from attriflow.errors import UserError

    for name, view in REAL_VIEWS.items():
        line = f"{name:22s} {'+'.join(view.folders):28s} splits: {', '.join(view.splits)}"
        if args.root is not None:
            try:
                data = load_dataset(name, args.root, view.default_split)
                line += f"  [{data.task}, {len(data)} {view.default_split} items]"
            except UserError as exc:
                line += f"  [not loadable: {str(exc).splitlines()[0][:120]}]"
        print(line)
    return 0


def _generate(args) -> int:
    from attriflow.data.embedded import GENERATORS

    if args.name not in GENERATORS:
        raise UserError(f"unknown embedded dataset {args.name!r}; valid: {', '.join(sorted(GENERATORS))}")
    out = GENERATORS[args.name](Path(args.root) / args.name, seed=args.seed)
    print(f"wrote {out}")
    return 0


def _fetch(args) -> int:
    from attriflow.data import registry

    overrides = {}
    for item in args.url:
        fname, sep, url = item.partition("=")
        if not sep:
            raise UserError(f"--url {item!r}: expected FILE=URL")
        overrides[fname] = url
    print(f"wrote {registry.fetch(args.name, args.root, overrides)}")
    return 0


def _locate(args) -> int:
    from attriflow.data import registry

    print(f"linked {registry.locate(args.name, args.path, args.root)}")
    return 0
