"""Shared resources of one API worker, owned by the app's lifespan and kept on ``app.state``.

The catalog snapshot is loaded into an in-memory DuckDB per worker process; handlers running in
the thread pool each get their own cursor (a single connection would serialize them).
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from typing import Any

import duckdb
import httpx

from byokvault.api.console.catalog_views import CatalogViews
from byokvault.engine.catalog.load import Catalog
from byokvault.engine.catalog.model import Model
from byokvault.engine.catalog.store import open_catalog
from byokvault.engine.ledger.writer import Ledger
from byokvault.engine.paths import sql_text
from byokvault.engine.pricing.index import PriceIndex
from byokvault.engine.pricing.quote import Quoter
from byokvault.engine.pricing.rules import load_rules
from byokvault.engine.vault.health import ProviderEndpoint
from byokvault.engine.vault.vault import Vault

from .auth import TokenStore, load_or_create_admin_token
from .metrics import Metrics
from .quotestore import WriteBehindQuoteStore
from .settings import Settings


@dataclass
class Resources:
    settings: Settings
    catalog: Catalog
    con: duckdb.DuckDBPyConnection
    views: CatalogViews
    tokens: TokenStore
    metrics: Metrics
    http: httpx.AsyncClient
    vault: Vault
    ledger: Ledger  # the process's single ledger writer (group commit, fed by a queue)
    quoter: Quoter  # prices quotes and settlements (one pricing path); quotes kept durably
    probe_http: httpx.AsyncClient  # short timeouts, for credential health probes
    provider_endpoints: dict[str, ProviderEndpoint] = field(default_factory=dict)
    _local: threading.local = field(default_factory=threading.local)
    _entries: dict[tuple[str, str], Model] = field(default_factory=dict)
    _closures: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for provider in self.catalog.providers:
            base_url = self.settings.provider_base_urls.get(provider.id, provider.base_url)
            self.provider_endpoints[provider.id] = ProviderEndpoint(
                provider.id, str(provider.api_style), base_url
            )
        for provider, model in self.catalog.models():
            key = (provider.id, model.id)
            self._entries[key] = model
            self._closures[key] = self.catalog.taxonomy.closure(model.capabilities)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor on the catalog database (never share one across threads)."""
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._local.cursor = self.con.cursor()
        return cur

    def rows(self, sql_file: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        cur = self.cursor().execute(sql_text(sql_file), params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def model_entry(self, provider_id: str, model_id: str) -> Model | None:
        return self._entries.get((provider_id, model_id))

    def capabilities_of(self, provider_id: str, model_id: str) -> frozenset[str]:
        return self._closures.get((provider_id, model_id), frozenset())

    def with_catalog(self, catalog: Catalog, con: duckdb.DuckDBPyConnection) -> Resources:
        """These resources over another catalog version (a live sync swapped it in): the
        catalog, its DuckDB, views, price index and per-model tables are new; the vault,
        ledger, tokens, quote store, rules and HTTP clients are shared. A field derived from the
        catalog must be rebuilt here (tests/test_import_server_sync.py checks every field)."""
        return dataclasses.replace(
            self,
            catalog=catalog,
            con=con,
            views=CatalogViews(catalog, con),
            quoter=Quoter(
                PriceIndex.from_connection(con),
                self.quoter.rules,
                self.quoter.store,  # quotes already issued keep their frozen prices
                ttl=self.quoter.ttl,
                clock=self.quoter.clock,
            ),
            provider_endpoints={},
            _local=threading.local(),
            _entries={},
            _closures={},
        )

    def component_status(self) -> dict[str, str]:
        """Each component's state for /healthz ("ok", or what is wrong)."""
        store = self.quoter.store
        return {
            "catalog": "ok",  # a failed sync keeps serving the last good catalog
            "ledger": self.ledger.health(),
            "vault_audit": self.vault.audit_health(),
            "quotes": store.health() if isinstance(store, WriteBehindQuoteStore) else "ok",
        }

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.probe_http.aclose()
        self.vault.close()
        self.ledger.close()  # drains the queue: every submitted record is committed first
        store = self.quoter.store
        if isinstance(store, WriteBehindQuoteStore):
            store.close()  # commits every queued quote first
        self.con.close()


def open_resources(settings: Settings, metrics: Metrics) -> Resources:
    """Everything a worker needs, built once at startup (blocking; run before serving)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    catalog, con = open_catalog(settings.catalog_dir, settings.data_dir / "snapshots")
    admin_token = load_or_create_admin_token(settings.data_dir, settings.admin_token)
    timeout = httpx.Timeout(
        settings.upstream_timeout_s, connect=settings.upstream_connect_timeout_s
    )
    http = httpx.AsyncClient(
        timeout=timeout, limits=httpx.Limits(max_connections=200, max_keepalive_connections=50)
    )
    return Resources(
        settings=settings,
        catalog=catalog,
        con=con,
        views=CatalogViews(catalog, con),
        tokens=TokenStore(settings.data_dir / "api_tokens.json", admin_token),
        metrics=metrics,
        http=http,
        probe_http=httpx.AsyncClient(timeout=5.0, follow_redirects=False),
        ledger=Ledger(settings.data_dir / "ledger.duckdb"),
        quoter=Quoter(
            PriceIndex.from_connection(con),
            load_rules(settings.rules_dir),
            WriteBehindQuoteStore(settings.data_dir / "quotes.duckdb"),
        ),
        vault=Vault.open(settings.data_dir / "vault.duckdb", settings.data_dir / "vault.kek"),
    )
