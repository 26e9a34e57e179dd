"""``byokvault ledger ...`` and ``byokvault audit ...`` commands."""

from __future__ import annotations

import argparse
from pathlib import Path

from .store import DuckDBStore, default_path
from .verify import verify_rows


def add_ledger_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ledger",
        type=Path,
        default=None,
        metavar="FILE",
        help="ledger DuckDB file (default: $BYOKVAULT_DATA/ledger.duckdb)",
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    ledger = subparsers.add_parser("ledger", help="verify and seal the billing ledger")
    sub = ledger.add_subparsers(dest="ledger_command", required=True, metavar="ACTION")
    p = sub.add_parser("verify", help="check the hash chain; name the first broken record")
    add_ledger_option(p)
    p.set_defaults(func=_verify)


def _verify(args: argparse.Namespace) -> int:
    path = args.ledger or default_path()
    if not path.is_file():
        print(f"error: no ledger at {path}")
        return 2
    store = DuckDBStore(path)
    try:
        check = verify_rows(store.scan(canonical=True), where=str(path))
    finally:
        store.close()
    if check.broken is not None:
        print(f"BROKEN: {check.broken}")
        print(f"verified {check.records} records before it")
        return 1
    print(f"ok: {check.records} records, seq 1..{check.last_seq}, head {check.head}")
    return 0
