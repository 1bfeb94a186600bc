"""``attriflow methods``: every registered attribution method with its parameters."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("methods", help="list the attribution methods with their parameters and defaults")
    p.add_argument("names", nargs="*", metavar="NAME", help="show only these methods")
    p.set_defaults(func=_methods)


def _methods(args) -> int:
    from attriflow.attribution import describe_methods

    print(describe_methods(args.names or None), end="")
    return 0
