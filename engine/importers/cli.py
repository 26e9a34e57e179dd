"""``byokvault catalog import SOURCE --from FILE_OR_URL [--into DIR]`` and ``catalog sync``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..paths import BUNDLED_CATALOG
from .sources import IMPORTERS


def register(subparsers: argparse._SubParsersAction) -> None:
    # `catalog` is owned by the catalog area; add our actions to its parser when present.
    catalog = subparsers.choices.get("catalog")
    if catalog is None:
        catalog = subparsers.add_parser("catalog", help="the model catalog")
        catalog.add_subparsers(dest="catalog_command", required=True, metavar="ACTION")
    sub = _subparsers_of(catalog)

    p = sub.add_parser("import", help="import one source (file or URL) into a catalog")
    p.add_argument("source", choices=IMPORTERS, help="which importer reads the data")
    p.add_argument("--from", dest="location", required=True, metavar="FILE_OR_URL")
    p.add_argument(
        "--into",
        type=Path,
        default=BUNDLED_CATALOG,
        metavar="DIR",
        help="catalog directory to merge into; an empty or missing one becomes a complete "
        "catalog (default: the bundled catalog/)",
    )
    p.add_argument("--dry-run", action="store_true", help="reconcile and report, write nothing")
    p.add_argument("--report", type=Path, metavar="FILE", help="write the Markdown import report")
    p.set_defaults(func=_import)

    p = sub.add_parser("sync", help="fetch every live source in sources.yaml and merge them")
    p.add_argument("--catalog", type=Path, default=BUNDLED_CATALOG, metavar="DIR")
    p.add_argument("--dry-run", action="store_true", help="reconcile and report, write nothing")
    p.add_argument("--report", type=Path, metavar="FILE", help="write the Markdown import report")
    p.add_argument(
        "--from",
        dest="overrides",
        action="append",
        default=[],
        metavar="SOURCE=FILE_OR_URL",
        help="read SOURCE from a file or another URL instead of sources.yaml (repeatable)",
    )
    p.add_argument(
        "--only",
        action="append",
        default=[],
        choices=IMPORTERS,
        metavar="SOURCE",
        help="sync only these sources (repeatable; default: every live source)",
    )
    p.set_defaults(func=_sync)


def _subparsers_of(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise RuntimeError("the catalog command has no sub-commands")


def _import(args: argparse.Namespace) -> int:
    from .sync import run_imports

    outcome_ok = run_imports(
        args.into,
        {args.source: args.location},
        dry_run=args.dry_run,
        report_path=args.report,
        out=sys.stdout,
    )
    return 0 if outcome_ok else 1


def _sync(args: argparse.Namespace) -> int:
    from .sources import load_sources
    from .sync import run_imports

    config = load_sources(args.catalog)
    locations = {name: s.url for name, s in config.sources.items() if s.live}
    for item in args.overrides:
        name, _, location = item.partition("=")
        if name not in IMPORTERS or not location:
            print(f"error: --from expects SOURCE=FILE_OR_URL, got {item!r}", file=sys.stderr)
            return 2
        locations[name] = location
    if args.only:
        locations = {name: locations[name] for name in args.only if name in locations}
    ok = run_imports(
        args.catalog, locations, dry_run=args.dry_run, report_path=args.report, out=sys.stdout
    )
    return 0 if ok else 1
