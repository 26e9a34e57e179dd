"""``byokvault ledger ...`` and ``byokvault audit ...`` commands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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
