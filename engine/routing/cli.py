"""``byokvault route``: the routing decision for one request file, with its exclusions."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import msgspec

from ..catalog.cli import add_catalog_option
from .decision import FundSources, RouteDecision
from .policy import load_policy
from .requirements import RequestError, Requirements
from .route import Router

SHOWN = 20


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "route", help="pick the cheapest model that supports every need of a request"
    )
    add_catalog_option(p)
    p.add_argument(
        "--request",
        type=Path,
        required=True,
        metavar="FILE",
        help="request JSON: a chat/messages/... body, or {endpoint, body, capabilities}",
    )
    p.add_argument("--tenant", default=None, help="tenant id whose policy applies")
    p.add_argument(
        "--policy",
        type=Path,
        default=None,
        metavar="FILE",
        help="policy file (default: rules/policy.yaml)",
    )
    for kind, what in (
        ("byok", "providers where the tenant has a healthy key of its own"),
        ("platform", "providers with a platform key"),
        ("local", "local providers with a configured endpoint"),
    ):
        p.add_argument(f"--{kind}", default=None, metavar="P,Q", help=f"{what} (comma list)")
    p.add_argument(
        "--at", default=None, metavar="ISO-8601", help="decision time (default: now, UTC)"
    )
    p.add_argument("--json", action="store_true", help="print the decision as JSON")
    p.add_argument("--all", action="store_true", help="list every exclusion, not the first 20")
    p.set_defaults(func=_route)


def _providers(value: str | None) -> frozenset[str]:
    return frozenset(v.strip() for v in (value or "").split(",") if v.strip())


def fund_sources(args: argparse.Namespace, router: Router) -> FundSources:
    """Flags as given; with none, every cloud provider has a platform key and every local
    provider an endpoint (what the bundled catalog can do at all)."""
    if args.byok is None and args.platform is None and args.local is None:
        kinds = router.con.execute("SELECT provider_id, kind FROM providers").fetchall()
        return FundSources(
            platform=frozenset(p for p, k in kinds if k == "cloud"),
            local=frozenset(p for p, k in kinds if k == "local"),
        )
    return FundSources(_providers(args.byok), _providers(args.platform), _providers(args.local))


def _route(args: argparse.Namespace) -> int:
    try:
        request = json.loads(args.request.read_text(encoding="utf-8"), parse_float=Decimal)
    except (OSError, json.JSONDecodeError) as exc:
        print(f"error: {args.request}: cannot read request JSON: {exc}", file=sys.stderr)
        return 2
    at = datetime.fromisoformat(args.at) if args.at else datetime.now(UTC)
    if at.tzinfo is None:
        print("error: --at needs a timezone, e.g. 2025-06-01T12:00:00Z", file=sys.stderr)
        return 2
    router = Router.open(args.catalog, policies=load_policy(args.policy))
    try:
        req = router.requirements(request)
    except RequestError as exc:
        print(f"error: {args.request}: {exc}", file=sys.stderr)
        return 2
    decision = router.route_sql(req, args.tenant, fund_sources(args, router), at)
    if args.json:
        out = {"requirements": _requirements_json(req), **msgspec.to_builtins(decision)}
        print(json.dumps(out, indent=2, default=str))
    else:
        print(render(req, decision, show_all=args.all))
    return 0 if decision.candidates else 1


def _requirements_json(req: Requirements) -> dict[str, object]:
    return {
        "capabilities": sorted(req.capabilities),
        "input_tokens": req.input_tokens,
        "output_tokens": req.output_tokens,
        "images": req.images,
        "usage": req.usage_dict(),
        "context": req.context_dict(),
    }


def _money(value: Decimal) -> str:
    """Exact, without trailing zeros (display only: the decision keeps full precision)."""
    return f"{value.normalize():f}" if value else "0"


def render(req: Requirements, decision: RouteDecision, show_all: bool = False) -> str:
    caps = ", ".join(sorted(req.capabilities)) or "(none)"
    usage = ", ".join(f"{k}={v}" for k, v in req.usage) or "(none estimated: costs are 0)"
    lines = [
        f"catalog {decision.catalog_version}, policy {decision.policy_version}",
        f"needs: {caps}",
        f"tokens: ~{req.input_tokens} in, output cap {req.output_tokens or 'none'}; "
        f"estimated usage: {usage}",
        "",
        f"candidates ({len(decision.candidates)}), cheapest first:",
    ]
    for c in decision.candidates[: None if show_all else SHOWN]:
        items = "; ".join(
            f"{i.dimension} {i.quantity} × ${_money(i.unit_price)}/{i.per} = ${_money(i.amount)}"
            for i in c.line_items
        )
        lines.append(
            f"  {c.rank:>3}. {c.provider_id}/{c.model_id}  ${_money(c.cost)}  "
            f"[{c.fund_source}]  {items}"
        )
    counts = Counter(r.split(":")[0] for e in decision.exclusions for r in e.reasons)
    summary = ", ".join(f"{k} {n}" for k, n in counts.most_common())
    lines += ["", f"excluded ({len(decision.exclusions)}): {summary or 'none'}"]
    for e in decision.exclusions[: None if show_all else SHOWN]:
        lines.append(f"  {e.provider_id}/{e.model_id}: {', '.join(e.reasons)}")
    hidden = len(decision.exclusions) - SHOWN
    if hidden > 0 and not show_all:
        lines.append(f"  ... {hidden} more (--all lists them)")
    return "\n".join(lines)
