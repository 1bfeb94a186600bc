"""The console script ``attriflow``: one sub-command per workflow step.

Each package module that owns a step exposes ``register(subparsers)``, adding its sub-commands
with ``set_defaults(func=...)``; this file only collects them.
"""

from __future__ import annotations

import argparse
import sys

from attriflow.errors import UserError
from attriflow.plugins import PluginError, import_listed

# Modules that contribute sub-commands; each has ``register(subparsers)``. A listed module that is
# missing or fails to import is an error naming it.
COMMAND_MODULES = (
    "attriflow.data.commands",
    "attriflow.models.commands",
    "attriflow.attribution.commands",
    "attriflow.evaluation.commands",
    "attriflow.reporting.commands",
    "attriflow.dissection.commands",
    "attriflow.anomaly.commands",
    "attriflow.steps",
    "attriflow.pathways.commands",
    "attriflow.reporting.papers.positive_grad",
    "attriflow.plugins",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="attriflow", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"attriflow {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in import_listed(COMMAND_MODULES, "sub-commands (attriflow.cli.COMMAND_MODULES)"):
        if not callable(getattr(module, "register", None)):
            raise PluginError(f"module {module.__name__!r}, listed for sub-commands (attriflow.cli.COMMAND_MODULES), "
                              "has no register(subparsers) function")
        module.register(sub)
    return parser


def _version() -> str:
    from attriflow import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
    except PluginError as exc:
        print(f"attriflow: error: {exc}", file=sys.stderr)
        return 1
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
