"""``byokvault ledger ...`` and ``byokvault audit ...`` commands."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from ..catalog.cli import add_catalog_option
from .audit import audit_names, open_audit, render, run_audit
from .segments import DEFAULT_SEGMENT_ROWS, SegmentError, seal, verify_ledger
from .store import DuckDBStore, default_path


def add_ledger_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ledger",
        type=Path,
        default=None,
        metavar="FILE",
        help="ledger DuckDB file (default: $BYOKVAULT_DATA/ledger.duckdb)",
    )


def add_segments_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--segments",
        type=Path,
        default=None,
        metavar="DIR",
        help="sealed segment directory (default: $BYOKVAULT_DATA/ledger-segments)",
    )


def _open_store(args: argparse.Namespace) -> DuckDBStore | None:
    path = args.ledger or default_path()
    if not path.is_file():
        print(f"error: no ledger at {path}", file=sys.stderr)
        return None
    return DuckDBStore(path)


def register(subparsers: argparse._SubParsersAction) -> None:
    ledger = subparsers.add_parser("ledger", help="verify and seal the billing ledger")
    sub = ledger.add_subparsers(dest="ledger_command", required=True, metavar="ACTION")
    p = sub.add_parser("verify", help="check the hash chain; name the first broken record")
    add_ledger_option(p)
    add_segments_option(p)
    p.add_argument(
        "--full", action="store_true", help="also re-hash every sealed row (slow on big ledgers)"
    )
    p.set_defaults(func=_verify)

    p = sub.add_parser("seal", help="seal unsealed records into verified Parquet segments")
    add_ledger_option(p)
    add_segments_option(p)
    p.add_argument(
        "--rows", type=int, default=DEFAULT_SEGMENT_ROWS, metavar="N", help="rows per segment"
    )
    p.set_defaults(func=_seal)

    p = subparsers.add_parser(
        "audit", help="run a finance audit (sql/audit/NAME.sql) over the sealed ledger"
    )
    p.add_argument("name", choices=audit_names(), metavar="NAME", help=", ".join(audit_names()))
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    add_segments_option(p)
    add_catalog_option(p)
    p.add_argument(
        "--quotes",
        type=Path,
        default=None,
        metavar="FILE",
        help="quotes (Parquet or CSV: quote_id, dimension, price_id, unit_price)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="VAR=VALUE",
        help="audit variable, e.g. --set tenant=acme --set month=2026-01-01",
    )
    p.set_defaults(func=_audit)


def _verify(args: argparse.Namespace) -> int:
    store = _open_store(args)
    if store is None:
        return 2
    try:
        check = verify_ledger(store, args.segments, full=args.full)
    finally:
        store.close()
    if check.broken is not None:
        print(f"BROKEN: {check.broken}")
        return 1
    print(f"ok: {check.records} records, seq 1..{check.last_seq}, head {check.head}")
    return 0


def _seal(args: argparse.Namespace) -> int:
    store = _open_store(args)
    if store is None:
        return 2
    try:
        new = seal(store, args.segments, max_rows=args.rows)
    except SegmentError as exc:
        print(f"BROKEN (nothing sealed): {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    for segment in new:
        print(f"sealed {segment.file}: seq {segment.first_seq}..{segment.last_seq}")
    if not new:
        print("nothing to seal")
    return 0


def _audit(args: argparse.Namespace) -> int:
    from ..catalog.store import build

    variables = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            print(f"error: --set {item!r}: expected VAR=VALUE", file=sys.stderr)
            return 2
        variables[key] = date.fromisoformat(value) if key == "month" else value
    try:
        con = open_audit(args.segments, build(args.catalog)[1].path, args.quotes)
    except SegmentError as exc:
        print(f"error: refusing to audit: {exc}", file=sys.stderr)
        return 1
    result = run_audit(con, args.name, variables)
    sys.stdout.write(render(result, args.format))
    if result.is_check and result.rows:
        print(f"{args.name}: {len(result.rows)} problem(s)", file=sys.stderr)
        return 1
    return 0
