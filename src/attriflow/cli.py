"""The console script ``attriflow``: one sub-command per workflow step.

Each package module that owns a step exposes ``register(subparsers)``, adding its sub-commands
with ``set_defaults(func=...)``; this file only collects them.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from attriflow.errors import UserError

# Modules that contribute sub-commands; each has ``register(subparsers)``.
COMMAND_MODULES = (
    "attriflow.data.commands",
    "attriflow.models.commands",
    "attriflow.attribution.commands",
    "attriflow.evaluation.commands",
    "attriflow.reporting.commands",
    "attriflow.anomaly.commands",
    "attriflow.steps",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="attriflow", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"attriflow {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # module not written yet
                continue
            raise
        module.register(sub)
    return parser


def _version() -> str:
    from attriflow import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (UserError, FileNotFoundError) as exc:
        print(f"attriflow {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
