"""``byokvault catalog ...`` commands."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..paths import BUNDLED_CATALOG
from .store import build, snapshot_cache


def add_catalog_option(parser: argparse.ArgumentParser) -> None:
    """Every command that reads a catalog takes --catalog DIR (default: the bundled one)."""
    parser.add_argument(
        "--catalog",
        type=Path,
        default=BUNDLED_CATALOG,
        metavar="DIR",
        help="catalog directory (default: the bundled catalog/)",
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    catalog = subparsers.add_parser("catalog", help="validate, build and diff the model catalog")
    sub = catalog.add_subparsers(dest="catalog_command", required=True, metavar="ACTION")

    p = sub.add_parser("build", help="validate the catalog and write its Parquet snapshot")
    add_catalog_option(p)
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="snapshot directory (default: $BYOKVAULT_DATA/snapshots)",
    )
    p.set_defaults(func=_build)

    p = sub.add_parser("validate", help="validate the catalog (and its history against a ref)")
    add_catalog_option(p)
    p.set_defaults(func=_validate)


def _build(args: argparse.Namespace) -> int:
    _catalog, snapshot = build(args.catalog, args.out or snapshot_cache())
    tables = snapshot.manifest["tables"]
    counts = ", ".join(f"{name} {entry['rows']}" for name, entry in tables.items())
    print(f"catalog {snapshot.version} -> {snapshot.path}")
    print(f"rows: {counts}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from .load import load_catalog

    catalog = load_catalog(args.catalog)
    models = sum(1 for _ in catalog.models())
    print(f"ok: {len(catalog.providers)} providers, {models} models, version {catalog.version}")
    return 0
