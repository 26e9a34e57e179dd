"""The ``byokvault`` command line. Each area registers its own subcommands (``<area>/cli.py``
exposes ``register(subparsers)``), so this file only wires them together and maps errors."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .catalog.yamlio import InputError

# Modules with a ``register(subparsers)``; add an area's CLI here.
COMMAND_MODULES = (
    "byokvault.engine.catalog.cli",
    "byokvault.engine.importers.cli",
    "byokvault.api.cli",
    "byokvault.engine.ledger.cli",
    "byokvault.engine.vault.cli",
    "byokvault.engine.routing.cli",
    "byokvault.engine.pricing.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="byokvault",
        description="Priced model catalog, capability routing, key vault and billing ledger.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
