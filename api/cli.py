"""``byokvault serve``: the API and gateway on the embedded default (DuckDB files in the data
dir, the bundled catalog, a generated local key file)."""

from __future__ import annotations

import argparse
from pathlib import Path

from byokvault.engine.catalog.cli import add_catalog_option


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("serve", help="serve the HTTP API and the gateway (uvicorn)")
    add_catalog_option(p)
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    p.add_argument(
        "--data", type=Path, default=None, metavar="DIR", help="data dir (default $BYOKVAULT_DATA)"
    )
    p.add_argument(
        "--provider-url",
        action="append",
        default=[],
        metavar="PROVIDER=URL",
        help="send a provider's calls to URL instead of the catalog's base_url (repeatable)",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .app import create_app
    from .settings import Settings

    overrides = dict(item.split("=", 1) for item in args.provider_url if "=" in item)
    bad = [item for item in args.provider_url if "=" not in item]
    if bad:
        raise SystemExit(f"error: --provider-url {bad[0]!r}: expected PROVIDER=URL")
    settings = Settings.from_env(
        catalog_dir=args.catalog,
        data_dir=args.data,
        provider_base_urls=overrides or None,
    )
    print(f"byokvault: data in {settings.data_dir}, catalog {settings.catalog_dir}")
    if not settings.admin_token:
        print(f"byokvault: admin token in {settings.data_dir / 'admin_token'}")
    print(f"byokvault: API on http://{args.host}:{args.port}  (OpenAPI at /schema/openapi.json)")
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=args.log_level == "debug",
        http=_http_protocol(),
    )
    return 0


def _http_protocol() -> object:
    """httptools with a response's head and body in one write (api/serving.py); uvicorn's
    choice when httptools is not installed."""
    try:
        from .serving import GatheringHttpToolsProtocol
    except ImportError:
        return "auto"
    return GatheringHttpToolsProtocol
