"""``byokvault price`` (batch pricing of a usage JSONL file) and ``byokvault rules show``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from ..catalog.cli import add_catalog_option
from ..paths import BUNDLED_RULES
from .cost import Breakdown, PricingContext, price_usage
from .index import PriceIndex, PricingError
from .rules import Rules, apply_billing, load_rules
from .usage import Usage, UsageError

CONTEXT_FIELDS = frozenset(PricingContext.__struct_fields__)
LINE_FIELDS = frozenset({"provider", "model", "at", "usage", "context"})


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "price",
        help="price a JSONL file of usages (one call per line) with the catalog",
        description=(
            'Each input line: {"provider": ..., "model": <id, alias or source name>, '
            '"at": <ISO-8601>, "usage": {...}, "context": {"service_tier": ...}}. '
            "Each output line, in the same order: total, currency, line_items, error."
        ),
    )
    add_catalog_option(p)
    p.add_argument("--input", type=Path, required=True, metavar="FILE", help="usage JSONL")
    p.add_argument("--output", type=Path, default=None, metavar="FILE", help="default: stdout")
    p.set_defaults(func=_price)

    rules = subparsers.add_parser("rules", help="margin and fee rules")
    sub = rules.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    show = sub.add_parser("show", help="print the published margin table (raw vs marked)")
    show.add_argument("--rules", type=Path, default=BUNDLED_RULES, metavar="DIR")
    show.set_defaults(func=_show_rules)


def _price(args: argparse.Namespace) -> int:
    from ..catalog.store import open_catalog

    _catalog, con = open_catalog(args.catalog)
    index = PriceIndex.from_connection(con)
    con.close()
    with args.input.open(encoding="utf-8") as src:
        if args.output is None:
            failed = write_priced(index, src, sys.stdout)
        else:
            with args.output.open("w", encoding="utf-8") as out:
                failed = write_priced(index, src, out)
    if failed:
        print(f"{failed} line(s) could not be priced (see their error)", file=sys.stderr)
    return 0


def write_priced(index: PriceIndex, lines: Iterable[str], out: TextIO) -> int:
    """Price each line into ``out``; returns how many lines carry an error."""
    failed = 0
    for result in price_lines(index, lines):
        failed += result["error"] is not None
        out.write(json.dumps(result, separators=(",", ":")) + "\n")
    return failed


def price_lines(index: PriceIndex, lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield _priced(index, _parse(line))
        except (ValueError, PricingError, UsageError) as exc:
            yield {
                "total": None,
                "currency": "USD",
                "line_items": [],
                "error": f"line {number}: {exc}",
            }


def _parse(line: str) -> tuple[str, str, datetime, Usage, PricingContext]:
    try:
        obj = json.loads(line, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object")
    unknown = sorted(set(obj) - LINE_FIELDS)
    if unknown:
        raise ValueError(f"unknown field(s) {unknown}")
    for name in ("provider", "model", "at"):
        if not isinstance(obj.get(name), str):
            raise ValueError(f"field {name!r} must be a string")
    try:
        at = datetime.fromisoformat(obj["at"])
    except ValueError:
        raise ValueError(f"field 'at' is not an ISO-8601 timestamp: {obj['at']!r}") from None
    if at.tzinfo is None:
        raise ValueError("field 'at' needs a timezone (e.g. Z or +00:00)")
    try:
        usage = Usage.from_mapping(obj.get("usage") or {})
    except UsageError as exc:
        raise ValueError(f"field 'usage': {exc}") from None
    context = obj.get("context") or {}
    if not isinstance(context, dict) or set(context) - CONTEXT_FIELDS:
        raise ValueError(f"field 'context' may hold only {sorted(CONTEXT_FIELDS)}")
    return obj["provider"], obj["model"], at, usage, PricingContext(**context)


def _priced(index: PriceIndex, parsed: tuple) -> dict[str, Any]:
    provider, name, at, usage, context = parsed
    model_id = index.resolve(provider, name)
    return breakdown_json(price_usage(index, provider, model_id, usage, at, context))


def breakdown_json(b: Breakdown) -> dict[str, Any]:
    return {
        "total": decimal_str(b.total),
        "currency": b.currency,
        "line_items": [
            {
                "dimension": i.dimension,
                "price_id": i.price_id,
                "unit_price": decimal_str(i.unit_price),
                "per": i.per,
                "quantity": decimal_str(Decimal(i.quantity)),
                "amount": decimal_str(i.amount),
                "effective_from": i.effective_from.isoformat(),
                "conditions": json.loads(i.conditions),
            }
            for i in b.line_items
        ],
        "error": None,
        "provider": b.provider_id,
        "model": b.model_id,
        "catalog_version": b.catalog_version,
    }


def decimal_str(value: Decimal) -> str:
    """Plain notation, no trailing zeros: 0.000150000 -> '0.00015', 1E+1 -> '10'."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def _show_rules(args: argparse.Namespace) -> int:
    print(rules_table(load_rules(args.rules)))
    return 0


def rules_table(rules: Rules, raw: Decimal = Decimal(1)) -> str:
    """The published margin table: what a raw provider cost of ``raw`` USD is billed at."""
    rows = [("class", "margin", "raw", "marked", "gap", "gap %")]
    for cls, factor in rules.margins.items():
        billed = apply_billing(raw, cls, "platform", rules)
        rows.append(
            (
                cls,
                f"{decimal_str(factor)}x",
                decimal_str(raw),
                decimal_str(billed.billed_amount),
                decimal_str(billed.gap),
                f"{decimal_str((factor - 1) * 100)}%",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    fee = rules.byok_fee
    lines += [
        "",
        f"BYOK (tenant's own key pays the provider; replaces the margin): "
        f"{decimal_str(fee.percent)}% of raw + {decimal_str(fee.per_call)} USD per call",
        f"local endpoints (no provider paid, no margin): "
        f"{decimal_str(rules.local_fee.per_call)} USD per call",
        f"rounding: to {decimal_str(rules.rounding.quantum)} USD, {rules.rounding.mode} "
        f"(recorded; the unrounded amount is kept)",
        f"rules version: {rules.version}",
    ]
    return "\n".join(lines)
