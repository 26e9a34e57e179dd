"""``byokvault catalog ...`` commands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..paths import BUNDLED_CATALOG
from .diff import diff_catalogs
from .history import load_source_catalog, validate_against
from .load import Catalog, load_catalog
from .refs import RefError, resolve_ref
from .schema import expected_comment, files_without_schema_comment, write_schemas
from .store import build, snapshot_cache
from .yamlio import InputError


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
    p.add_argument(
        "--against",
        metavar="REF",
        default=None,
        help="also refuse rewritten, removed or back-dated published price rows relative to REF:"
        " a git ref (e.g. origin/main), a catalog directory or a snapshot directory",
    )
    p.set_defaults(func=_validate)

    p = sub.add_parser(
        "schema", help="write the JSON Schema of the catalog files (catalog/schema/)"
    )
    add_catalog_option(p)
    p.set_defaults(func=_schema)

    p = sub.add_parser(
        "diff", help="price, model and capability changes between two catalogs (for a PR)"
    )
    p.add_argument("base", metavar="BASE", help="git ref (e.g. origin/main) or catalog directory")
    p.add_argument(
        "head",
        metavar="HEAD",
        nargs="?",
        default=None,
        help="git ref or catalog directory (default: the --catalog directory as it is now)",
    )
    add_catalog_option(p)
    p.add_argument("--json", action="store_true", help="machine-readable JSON instead of Markdown")
    p.set_defaults(func=_diff)


def _build(args: argparse.Namespace) -> int:
    _catalog, snapshot = build(args.catalog, args.out or snapshot_cache())
    tables = snapshot.manifest["tables"]
    counts = ", ".join(f"{name} {entry['rows']}" for name, entry in tables.items())
    print(f"catalog {snapshot.version} -> {snapshot.path}")
    print(f"rows: {counts}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    catalog = load_catalog(args.catalog)
    models = sum(1 for _ in catalog.models())
    print(f"ok: {len(catalog.providers)} providers, {models} models, version {catalog.version}")
    if args.against is None:
        return 0
    try:
        published, problems = validate_against(catalog, args.against)
    except RefError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if problems:
        raise InputError(problems)
    print(f"ok: all {published} price rows published at {args.against} are unchanged")
    return 0


def _diff(args: argparse.Namespace) -> int:
    try:
        base = _catalog_at(args.base, args.catalog)
        head = (
            load_catalog(args.catalog)
            if args.head is None
            else _catalog_at(args.head, args.catalog)
        )
    except RefError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    changes = diff_catalogs(base, head)
    print(changes.to_json() if args.json else changes.to_markdown(), end="")
    return 0


def _catalog_at(ref: str, catalog_dir: Path) -> Catalog:
    with resolve_ref(ref, catalog_dir) as source:
        if source.kind != "catalog":
            raise RefError(f"{ref}: a snapshot; diff compares catalogs (a git ref or directory)")
        return load_source_catalog(source)


def _schema(args: argparse.Namespace) -> int:
    for path in write_schemas(args.catalog):
        print(f"wrote {path}")
    for relative in files_without_schema_comment(args.catalog):
        comment = expected_comment(relative)
        print(f"warning: {relative}: first line should be `{comment}`", file=sys.stderr)
    return 0
