"""The ``wxlogin`` command.

Each sub-command lives in its own module with a ``register(subparsers)`` function that adds
its parser and sets ``handler``; a handler returns the exit status. Nothing imports this
package.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from wxlogin import __version__
from wxlogin.cli import (
    admin,
    db,
    decrypt,
    dev,
    doctor,
    keys,
    messages,
    orders,
    serve,
    simulate,
)

# Sub-command modules, in the order ``wxlogin --help`` lists them.
_COMMANDS = (dev, serve, simulate, decrypt, admin, messages, orders, db, keys, doctor)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wxlogin",
        description="Login and identity backend for WeChat Mini Programs.",
    )
    parser.add_argument("--version", action="version", version=f"wxlogin {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for module in _COMMANDS:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(args))
    except KeyboardInterrupt:
        return 130
