"""Vault storage behind a small seam: ``VaultRepository`` is what the vault needs from a
database; ``DuckDBVaultRepository`` is the embedded default (one DuckDB file in the data dir).
A Postgres implementation can implement the same protocol later.

Schema changes are numbered files in ``sql/vault/NNN_*.sql``, applied once in order and recorded
in ``vault_migrations`` (simonw/llm style). Every query is a named block in
``sql/vault/queries.sql``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import duckdb
import pyarrow as pa

from ..duckdb_params import skip_absent_pandas
from ..durable import fsync_path
from ..paths import SQL_DIR, data_dir, sql_text
from .auditlog import JournaledAudit
from .errors import VaultError, VaultInputError
from .groupcommit import AuditRow, GroupCommitter
from .model import (
    PLATFORM_TENANT,
    AccessEvent,
    AccessResult,
    Alert,
    Credential,
    FundSource,
    HealthEvent,
    ResolutionRecord,
    Status,
    TierAttempt,
)

DB_FILE_NAME = "vault.duckdb"
_MIGRATION_FILE = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


def default_db_path() -> Path:
    return data_dir() / DB_FILE_NAME


def _named_queries(text: str) -> dict[str, str]:
    """Split ``-- name: x`` blocks (comments inside a block are kept; DuckDB ignores them)."""
    queries: dict[str, str] = {}
    for block in re.split(r"^-- name: ", text, flags=re.MULTILINE)[1:]:
        name, _, body = block.partition("\n")
        queries[name.strip()] = body.strip()
    return queries


Q = _named_queries(sql_text("vault/queries.sql"))
skip_absent_pandas()  # halves the cost of every parameterized query (see duckdb_params)

# Audit tables written by group commit: kind -> (one-row query, Arrow table name, its bulk
# query, the Arrow table's columns). A few rows go one by one (~0.15 ms each); more go as one
# Arrow table (a fixed ~1 ms, then ~µs per row).
ARROW_FROM_ROWS = 16
_AUDIT_BATCHES = {
    "access": (
        Q["insert_access"],
        "access_batch",
        Q["insert_access_batch"],
        ("event_id", "occurred_at", "actor", "tenant_id", "credential_id", "purpose", "call_id",
         "result", "detail"),
    ),
    "resolution": (
        Q["insert_resolution"],
        "resolution_batch",
        Q["insert_resolution_batch"],
        ("call_id", "occurred_at", "tenant_id", "provider_id", "credential_id", "fund_source",
         "tiers"),
    ),
}  # fmt: skip
# The newest resolved call ids (loaded at open, then added as calls resolve), remembered to
# refuse a reuse without a query; an id older than these is looked up in the table before its
# row is written (the audit tables insert OR IGNORE, so a replay may repeat rows).
RECENT_CALL_IDS = 200_000

F = TypeVar("F", bound=Callable[..., Any])


def _changes_credentials(method: F) -> F:
    """Marks a method that writes credentials or data keys: the read cache is dropped after it
    (whether it committed or not), so no reader keeps a stale row."""

    @functools.wraps(method)
    def wrapper(self: DuckDBVaultRepository, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        finally:
            self._cache.invalidate()

    return wrapper  # type: ignore[return-value]


_MISSING = object()


class _CredentialCache:
    """Credentials per tenant and sealed secrets per credential, read once and kept until a
    write through this repository changes them. Exact, because this process is the only writer:
    the database file is held by one process at a time (``DatabaseInUse``). A reader stores what
    it read only if no write invalidated the cache meanwhile (the generation check)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.generation = 0
        self._tenants: dict[str, list[Credential]] = {}
        self._sealed: dict[str, SealedSecret | None] = {}

    def invalidate(self) -> None:
        with self._lock:
            self.generation += 1
            self._tenants.clear()
            self._sealed.clear()

    def tenant(self, tenant_id: str) -> list[Credential] | None:
        return self._tenants.get(tenant_id)

    def sealed(self, credential_id: str) -> tuple[bool, SealedSecret | None]:
        found = self._sealed.get(credential_id, _MISSING)
        return (False, None) if found is _MISSING else (True, found)  # type: ignore[return-value]

    def keep_tenant(self, generation: int, tenant_id: str, rows: list[Credential]) -> None:
        with self._lock:
            if generation == self.generation:
                self._tenants[tenant_id] = rows

    def keep_sealed(self, generation: int, credential_id: str, sealed: SealedSecret | None) -> None:
        with self._lock:
            if generation == self.generation:
                self._sealed[credential_id] = sealed


def migration_files(folder: str = "vault") -> list[tuple[str, str]]:
    """(name, sql) of every numbered migration under ``sql/<folder>``, in order
    (``vault``: the key store; ``vault/audit``: the audit store)."""
    files = sorted(p for p in (SQL_DIR / folder).iterdir() if _MIGRATION_FILE.match(p.name))
    return [(p.stem, p.read_text(encoding="utf-8")) for p in files if not p.stem.startswith("000_")]


def audit_path_for(path: Path) -> Path:
    return path.with_name(path.stem + "_audit.duckdb")


def audit_log_path(path: Path) -> Path:
    """The audit rows' journal (``auditlog.py``), beside the audit store."""
    return path.with_name(path.stem + "_audit.journal")


@dataclass(frozen=True, slots=True)
class SealedSecret:
    """A credential's ciphertext with every wrapped form of its data key, read in one snapshot."""

    tenant_id: str
    provider_id: str
    status: Status
    secret_version: int
    dk_version: int | None
    ciphertext: bytes | None
    wrapped: dict[str, bytes]


@dataclass(frozen=True, slots=True)
class Reencrypted:
    credential_id: str
    secret_version: int
    ciphertext: bytes


class ConcurrentChange(Exception):
    """A row changed under a multi-row operation; nothing was written. Retry."""


class VaultRepository(Protocol):
    """What the vault needs from storage. Implementations must make each method atomic."""

    def latest_data_key(self, tenant_id: str) -> int | None: ...
    def create_data_key(
        self, tenant_id: str, dk_version: int, kek_id: str, wrapped: bytes, at: datetime
    ) -> bool: ...
    def wrapped_keys(self, tenant_id: str, dk_version: int) -> dict[str, bytes]: ...
    def data_keys_missing_kek(self, kek_id: str) -> list[tuple[str, int, dict[str, bytes]]]: ...
    def add_wrapped_key(
        self, tenant_id: str, dk_version: int, kek_id: str, wrapped: bytes, at: datetime
    ) -> None: ...
    def drop_wrapped_keys_except(self, kek_id: str) -> None: ...
    def kek_usage(self) -> dict[str, int]: ...
    def insert_credential(
        self,
        credential_id: str,
        tenant_id: str,
        provider_id: str,
        base_url: str | None,
        label: str,
        fingerprint: str | None,
        secret_version: int,
        dk_version: int | None,
        ciphertext: bytes | None,
        at: datetime,
    ) -> None: ...
    def credential(self, credential_id: str) -> Credential | None: ...
    def credentials(self, tenant_id: str, provider_id: str | None = None) -> list[Credential]: ...
    def credentials_if_cached(self, tenant_id: str) -> list[Credential] | None: ...
    def all_credentials(self) -> list[Credential]: ...
    def resolution_candidates(
        self, tenant_id: str, provider_id: str, call_id: str
    ) -> tuple[bool, list[Credential], list[Credential]]: ...
    def secret_for_decrypt(self, credential_id: str) -> SealedSecret | None: ...
    def tenant_ciphertexts(self, tenant_id: str) -> list[tuple[str, str, int, int, bytes]]: ...
    def replace_secret(
        self,
        credential_id: str,
        ciphertext: bytes,
        fingerprint: str,
        secret_version: int,
        dk_version: int,
        at: datetime,
    ) -> None: ...
    def commit_data_key_rotation(
        self,
        tenant_id: str,
        new_version: int,
        kek_id: str,
        wrapped: bytes,
        reencrypted: Sequence[Reencrypted],
        at: datetime,
    ) -> None: ...
    def set_status(
        self, credential_id: str, status: Status, reason: str | None, at: datetime
    ) -> None: ...
    def delete_credential(self, credential_id: str) -> bool: ...
    def append_access(self, event: AccessEvent) -> None: ...
    def access_log(
        self, tenant_id: str, credential_id: str | None = None, limit: int = 100
    ) -> list[AccessEvent]: ...
    def failures_since(self, credential_id: str, since: datetime) -> int: ...
    def insert_resolution(self, record: ResolutionRecord) -> None: ...
    def submit_resolution(self, record: ResolutionRecord) -> Future[None]: ...
    def resolution(self, call_id: str) -> ResolutionRecord | None: ...
    def append_health(self, credential_id: str, event: HealthEvent) -> None: ...
    def health_events(self, credential_id: str, limit: int = 20) -> list[HealthEvent]: ...
    def audit_health(self) -> str: ...
    def append_alert(self, alert: Alert) -> None: ...
    def alerts(self, tenant_id: str | None = None, limit: int = 100) -> list[Alert]: ...
    def purge_freed_space(self) -> None: ...
    def close(self) -> None: ...


class _ReadWriteLock:
    """Many operations at once, or one compaction alone (it swaps the database file)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writer)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writer)
            self._writer = True
            self._cond.wait_for(lambda: self._readers == 0)
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


class DuckDBVaultRepository:
    """The embedded default. One connection per process, one cursor per thread (DuckDB
    serialises queries on a single connection; cursors scale)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = (path or default_db_path()).resolve()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _claim(self.path)
        try:
            self._open()
        except BaseException:  # (AuditLogDamaged, a migration failed): don't keep the files
            if getattr(self, "_con", None) is not None:
                with contextlib.suppress(duckdb.Error):
                    self._con.close()
            _release(self.path)
            raise

    def _open(self) -> None:
        self._compact_path().unlink(missing_ok=True)  # a compaction interrupted by a crash
        self._lock = _ReadWriteLock()
        self._local = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._cursors_guard = threading.Lock()
        self._generation = 0
        self._closed = False
        self.audit_path = audit_path_for(self.path)
        self._con = self._connect()
        self._main = self._con.execute("SELECT current_database()").fetchone()[0]
        self._migrate(self._main, "vault")
        self._migrate("audit", "vault/audit")
        self._con.execute(f'USE "{self._main}"')
        self._cache = _CredentialCache()
        # Audit rows: journal first (one O_DSYNC write acknowledges them), tables right after;
        # opening replays what the tables lack.
        self.audit_log = JournaledAudit(audit_log_path(self.path), self._commit_audit)
        self._call_ids: OrderedDict[str, None] = OrderedDict()
        self._call_ids_lock = threading.Lock()
        self._call_ids_complete = self._remember_resolved()
        self._call_id_checker: ThreadPoolExecutor | None = None
        self.audit_writer = GroupCommitter(self.audit_log.commit, name="vault-audit")

    # -- plumbing ---------------------------------------------------------------------------

    def _compact_path(self) -> Path:
        return self.path.with_name(self.path.name + ".compact")

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cached = getattr(self._local, "cursor", None)
        if cached is not None and cached[0] == self._generation:
            return cached[1]
        cur = self._con.cursor()
        with self._cursors_guard:
            self._cursors.append(cur)
        self._local.cursor = (self._generation, cur)
        return cur

    @contextlib.contextmanager
    def _use(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._lock.shared():
            yield self._cursor()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._use() as cur:
            cur.execute("BEGIN TRANSACTION")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    def _connect(self) -> duckdb.DuckDBPyConnection:
        """The key store, with the audit store attached as ``audit``. Two files, because a
        re-key compacts the key store by copying it, and that copy must stay small and fast
        however long the access log grows."""
        try:
            con = duckdb.connect(str(self.path))
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            raise DatabaseInUse(
                f"{self.path} is locked by another process (a running server?): "
                "one process at a time can open the vault"
            ) from None
        con.execute("ATTACH IF NOT EXISTS " + _sql_string(self.audit_path) + " AS audit")
        return con

    def _migrate(self, database: str, folder: str) -> None:
        """Apply ``sql/<folder>`` migrations to one database (a DuckDB transaction may write
        to one attached database only, so each keeps its own migrations table)."""
        con = self._con
        con.execute(f'USE "{database}"')
        con.execute(sql_text("vault/000_migrations.sql"))
        applied = {row[0] for row in con.execute(Q["applied_migrations"]).fetchall()}
        for name, sql in migration_files(folder):
            if name in applied:
                continue
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute(sql)
                con.execute(Q["record_migration"], [name, _now()])
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    def applied_migrations(self) -> dict[str, list[str]]:
        with self._use() as cur:
            main = [r[0] for r in cur.execute(Q["applied_migrations"]).fetchall()]
            audit = cur.execute("SELECT name FROM audit.vault_migrations ORDER BY name")
            return {"vault": main, "audit": [r[0] for r in audit.fetchall()]}

    # -- data keys --------------------------------------------------------------------------

    def latest_data_key(self, tenant_id: str) -> int | None:
        with self._use() as cur:
            row = cur.execute(Q["latest_data_key"], [tenant_id]).fetchone()
        return row[0] if row else None

    @_changes_credentials
    def create_data_key(
        self, tenant_id: str, dk_version: int, kek_id: str, wrapped: bytes, at: datetime
    ) -> bool:
        try:
            with self._transaction() as cur:
                cur.execute(Q["insert_data_key"], [tenant_id, dk_version, at])
                cur.execute(Q["insert_wrapped_key"], [tenant_id, dk_version, kek_id, wrapped, at])
        except (duckdb.ConstraintException, duckdb.TransactionException):
            return False  # another writer created this version first
        return True

    def wrapped_keys(self, tenant_id: str, dk_version: int) -> dict[str, bytes]:
        with self._use() as cur:
            rows = cur.execute(Q["wrapped_keys"], [tenant_id, dk_version]).fetchall()
        return {kek_id: bytes(wrapped) for kek_id, wrapped in rows}

    def data_keys_missing_kek(self, kek_id: str) -> list[tuple[str, int, dict[str, bytes]]]:
        with self._use() as cur:
            rows = cur.execute(Q["data_keys_missing_kek"], [kek_id]).fetchall()
        return [
            (tenant, version, {k: bytes(w) for k, w in zip(ids, blobs, strict=True)})
            for tenant, version, ids, blobs in rows
        ]

    @_changes_credentials
    def add_wrapped_key(
        self, tenant_id: str, dk_version: int, kek_id: str, wrapped: bytes, at: datetime
    ) -> None:
        with self._use() as cur:
            cur.execute(Q["insert_wrapped_key"], [tenant_id, dk_version, kek_id, wrapped, at])

    @_changes_credentials
    def drop_wrapped_keys_except(self, kek_id: str) -> None:
        with self._use() as cur:
            cur.execute(Q["delete_wrapped_other_keks"], [kek_id])

    def kek_usage(self) -> dict[str, int]:
        with self._use() as cur:
            return dict(cur.execute(Q["kek_usage"]).fetchall())

    # -- credentials ------------------------------------------------------------------------

    @_changes_credentials
    def insert_credential(
        self,
        credential_id: str,
        tenant_id: str,
        provider_id: str,
        base_url: str | None,
        label: str,
        fingerprint: str | None,
        secret_version: int,
        dk_version: int | None,
        ciphertext: bytes | None,
        at: datetime,
    ) -> None:
        with self._use() as cur:
            cur.execute(
                Q["insert_credential"],
                [
                    credential_id,
                    tenant_id,
                    provider_id,
                    base_url,
                    label,
                    fingerprint,
                    secret_version,
                    dk_version,
                    ciphertext,
                    at,
                    at,
                    at,
                ],
            )

    def credential(self, credential_id: str) -> Credential | None:
        with self._use() as cur:
            row = cur.execute(Q["credential"], [credential_id]).fetchone()
        return Credential.from_row(row) if row else None

    def forget_cached(self) -> None:
        """Drop cached credentials: for whoever changed the file behind this repository's back
        (a test tampering with a stored row)."""
        self._cache.invalidate()

    def credentials(self, tenant_id: str, provider_id: str | None = None) -> list[Credential]:
        """The tenant's credentials (ordered by provider, creation, id), from the cache."""
        found = self._cache.tenant(tenant_id)
        if found is None:
            generation = self._cache.generation
            with self._use() as cur:
                rows = cur.execute(Q["credentials"], [tenant_id, None, None]).fetchall()
            found = [Credential.from_row(r) for r in rows]
            self._cache.keep_tenant(generation, tenant_id, found)
        return [c for c in found if provider_id is None or c.provider_id == provider_id]

    def credentials_if_cached(self, tenant_id: str) -> list[Credential] | None:
        """The tenant's credentials if the cache holds them, else None (never a query: for an
        event loop, which must not block on DuckDB)."""
        return self._cache.tenant(tenant_id)

    def all_credentials(self) -> list[Credential]:
        with self._use() as cur:
            return [Credential.from_row(r) for r in cur.execute(Q["all_credentials"]).fetchall()]

    def resolution_candidates(
        self, tenant_id: str, provider_id: str, call_id: str
    ) -> tuple[bool, list[Credential], list[Credential]]:
        """(call id already resolved in this process?, the tenant's credentials, the
        platform's): from the cache, so a warm resolution runs no query."""
        own = self.credentials(tenant_id, provider_id)
        platform = self.credentials(PLATFORM_TENANT, provider_id)
        with self._call_ids_lock:
            seen = call_id in self._call_ids
        return seen, own, platform

    def secret_for_decrypt(self, credential_id: str) -> SealedSecret | None:
        """The credential's ciphertext and data-key forms (one snapshot), from the cache. Only
        ciphertext is cached: a plaintext exists only inside ``Vault.decrypt_for_call``."""
        known, sealed = self._cache.sealed(credential_id)
        if known:
            return sealed
        generation = self._cache.generation
        with self._use() as cur:
            rows = cur.execute(Q["secret_for_decrypt"], [credential_id]).fetchall()
        sealed = _sealed_of(rows)
        self._cache.keep_sealed(generation, credential_id, sealed)
        return sealed

    def tenant_ciphertexts(self, tenant_id: str) -> list[tuple[str, str, int, int, bytes]]:
        with self._use() as cur:
            rows = cur.execute(Q["tenant_ciphertexts"], [tenant_id]).fetchall()
        return [(c, p, sv, dk, bytes(ct)) for c, p, sv, dk, ct in rows]

    @_changes_credentials
    def replace_secret(
        self,
        credential_id: str,
        ciphertext: bytes,
        fingerprint: str,
        secret_version: int,
        dk_version: int,
        at: datetime,
    ) -> None:
        with self._use() as cur:
            cur.execute(
                Q["replace_secret"],
                [ciphertext, fingerprint, secret_version, dk_version, at, at, credential_id],
            )

    @_changes_credentials
    def commit_data_key_rotation(
        self,
        tenant_id: str,
        new_version: int,
        kek_id: str,
        wrapped: bytes,
        reencrypted: Sequence[Reencrypted],
        at: datetime,
    ) -> None:
        """New data key, every secret re-encrypted under it, old data keys destroyed: all in
        one transaction, or nothing (a secret replaced meanwhile aborts it)."""
        try:
            with self._transaction() as cur:
                cur.execute(Q["insert_data_key"], [tenant_id, new_version, at])
                cur.execute(Q["insert_wrapped_key"], [tenant_id, new_version, kek_id, wrapped, at])
                for item in reencrypted:
                    cur.execute(
                        Q["reencrypt_secret"],
                        [item.ciphertext, new_version, at, item.credential_id, item.secret_version],
                    )
                    if cur.fetchone()[0] != 1:
                        raise ConcurrentChange(f"credential {item.credential_id} changed")
                cur.execute(Q["delete_wrapped_keys_before"], [tenant_id, new_version])
                cur.execute(Q["delete_data_keys_before"], [tenant_id, new_version])
        except (duckdb.ConstraintException, duckdb.TransactionException) as exc:
            raise ConcurrentChange(f"data key rotation for {tenant_id}: {exc}") from None

    @_changes_credentials
    def set_status(
        self, credential_id: str, status: Status, reason: str | None, at: datetime
    ) -> None:
        with self._use() as cur:
            cur.execute(Q["set_status"], [str(status), reason, at, str(status), at, credential_id])

    @_changes_credentials
    def delete_credential(self, credential_id: str) -> bool:
        with self._use() as cur:
            cur.execute(Q["delete_credential"], [credential_id])
            return bool(cur.fetchone()[0])

    # -- append-only logs -------------------------------------------------------------------

    def append_access(self, event: AccessEvent) -> None:
        """Returns once the event is committed (group commit: one transaction per batch)."""
        values = (
            event.event_id,
            event.at,
            event.actor,
            event.tenant_id,
            event.credential_id,
            event.purpose,
            event.call_id,
            str(event.result),
            event.detail,
        )
        self.audit_writer.submit("access", values).result()

    def access_log(
        self, tenant_id: str, credential_id: str | None = None, limit: int = 100
    ) -> list[AccessEvent]:
        self.audit_log.settle()
        with self._use() as cur:
            rows = cur.execute(
                Q["access_log"], [tenant_id, credential_id, credential_id, limit]
            ).fetchall()
        return [AccessEvent(*r[:7], AccessResult(r[7]), r[8]) for r in rows]

    def failures_since(self, credential_id: str, since: datetime) -> int:
        self.audit_log.settle()
        with self._use() as cur:
            return int(cur.execute(Q["failures_since"], [credential_id, since]).fetchone()[0])

    def insert_resolution(self, record: ResolutionRecord) -> None:
        self.submit_resolution(record).result()

    def submit_resolution(self, record: ResolutionRecord) -> Future[None]:
        """Queue the call's resolution row; the Future resolves once it is durable (in the
        audit log). A remembered call id is refused at once; while the memory holds every
        resolved call id (up to ``RECENT_CALL_IDS``) a new one is provably new, beyond that an
        unknown one is looked up in the table first, off the caller's thread."""
        complete = self._remember_call_id(record.call_id)
        tiers = json.dumps(
            [
                {
                    "tier": t.tier,
                    "credential_id": t.credential_id,
                    "outcome": t.outcome,
                    "reason": t.reason,
                }
                for t in record.tiers
            ]
        )
        values = (
            record.call_id,
            record.at,
            record.tenant_id,
            record.provider_id,
            record.credential_id,
            str(record.fund_source),
            tiers,
        )
        if complete:
            return self.audit_writer.submit("resolution", values)
        return self._submit_if_unresolved(record.call_id, values)

    def _remember_resolved(self) -> bool:
        """Load the newest resolved call ids; True when that is all of them."""
        with self._use() as cur:
            total = cur.execute(Q["resolution_count"]).fetchone()[0]
            rows = cur.execute(Q["recent_call_ids"], [RECENT_CALL_IDS]).fetchall()
        self._call_ids.update((call_id, None) for (call_id,) in rows)
        return total <= RECENT_CALL_IDS

    def _remember_call_id(self, call_id: str) -> bool:
        """Remember a new call id (raise if it is remembered already); True when every resolved
        call id is remembered, so this one is provably new."""
        with self._call_ids_lock:
            if call_id in self._call_ids:
                raise VaultInputError("call_id", f"{call_id!r} was already resolved")
            self._call_ids[call_id] = None
            if len(self._call_ids) > RECENT_CALL_IDS:
                self._call_ids.popitem(last=False)
                self._call_ids_complete = False
            return self._call_ids_complete

    def _submit_if_unresolved(self, call_id: str, values: tuple[Any, ...]) -> Future[None]:
        """Submit the row once the table shows the call id unused (on a checker thread: the
        lookup overlaps the provider call, as the row's own write does)."""
        done: Future[None] = Future()

        def check() -> None:
            try:
                self.audit_log.settle()  # the table holds every row acknowledged so far
                if self.resolution_stored(call_id):
                    raise VaultInputError("call_id", f"{call_id!r} was already resolved")
                written = self.audit_writer.submit("resolution", values)
            except BaseException as exc:
                done.set_exception(exc)
                return
            written.add_done_callback(lambda f: _pass_outcome(f, done))

        with self._call_ids_lock:
            if self._call_id_checker is None:
                self._call_id_checker = ThreadPoolExecutor(1, "vault-call-id-check")
        self._call_id_checker.submit(check)
        return done

    def audit_health(self) -> str:
        """Either "ok" or what has failed: without a durable audit log no secret is opened."""
        return self.audit_log.health()

    def resolution_stored(self, call_id: str) -> bool:
        with self._use() as cur:
            return cur.execute(Q["resolution"], [call_id]).fetchone() is not None

    def _commit_audit(self, rows: Sequence[AuditRow]) -> None:
        """Apply journaled audit rows: one transaction (Arrow bulk inserts); rows the tables
        already hold are skipped (a replay may repeat some)."""
        tables: dict[str, list[tuple[Any, ...]]] = {}
        for row in rows:
            tables.setdefault(row.table, []).append(row.values)
        with self._transaction() as cur:
            for table, values in tables.items():
                one_row, name, sql, columns = _AUDIT_BATCHES[table]
                if len(values) < ARROW_FROM_ROWS:
                    for row_values in values:
                        cur.execute(one_row, row_values)
                    continue
                batch = pa.table({c: [v[i] for v in values] for i, c in enumerate(columns)})
                cur.register(name, batch)
                try:
                    cur.execute(sql)
                finally:
                    cur.unregister(name)

    def resolution(self, call_id: str) -> ResolutionRecord | None:
        self.audit_log.settle()
        with self._use() as cur:
            row = cur.execute(Q["resolution"], [call_id]).fetchone()
        if row is None:
            return None
        tiers = [TierAttempt(**t) for t in json.loads(row[6])]
        return ResolutionRecord(*row[:5], FundSource(row[5]), tiers)

    def append_health(self, credential_id: str, event: HealthEvent) -> None:
        with self._use() as cur:
            cur.execute(
                Q["insert_health_event"],
                [
                    uuid.uuid4().hex,
                    event.at,
                    credential_id,
                    event.source,
                    event.http_status,
                    event.outcome,
                    str(event.status),
                    event.latency_ms,
                    event.detail,
                ],
            )

    def health_events(self, credential_id: str, limit: int = 20) -> list[HealthEvent]:
        with self._use() as cur:
            rows = cur.execute(Q["health_events"], [credential_id, limit]).fetchall()
        return [HealthEvent(r[0], r[1], r[2], r[3], Status(r[4]), r[5], r[6]) for r in rows]

    def append_alert(self, alert: Alert) -> None:
        with self._use() as cur:
            cur.execute(
                Q["insert_alert"],
                [
                    alert.alert_id,
                    alert.at,
                    alert.rule_id,
                    alert.severity,
                    alert.tenant_id,
                    alert.credential_id,
                    alert.call_id,
                    alert.message,
                ],
            )

    def alerts(self, tenant_id: str | None = None, limit: int = 100) -> list[Alert]:
        with self._use() as cur:
            rows = cur.execute(Q["alerts"], [tenant_id, tenant_id, limit]).fetchall()
        return [Alert(*r) for r in rows]

    # -- destroying freed bytes -------------------------------------------------------------

    def purge_freed_space(self) -> None:
        """Rewrite the database into a fresh file and atomically replace the old one.

        DuckDB leaves the bytes of updated and deleted rows in freed blocks after a checkpoint;
        copying the live data into a new file is what actually makes a replaced ciphertext
        disappear. Everything else waits (exclusive lock) for the few ms this takes.
        """
        with self._lock.exclusive():
            tmp = self._compact_path()
            tmp.unlink(missing_ok=True)
            # Start from a connection no other thread's cursor has touched: a cursor left inside
            # a transaction made FORCE CHECKPOINT spin forever (seen under load). Nothing runs
            # under the exclusive lock, so closing every cursor is safe; threads reopen theirs.
            self._close_all()
            self._con = self._connect()
            self._copy_to(tmp)  # on failure the old file is untouched and still open
            self._close_all()
            try:
                fsync_path(tmp)
                tmp.replace(self.path)
                self.path.with_name(self.path.name + ".wal").unlink(missing_ok=True)
                fsync_path(self.path.parent)
            finally:
                self._con = self._connect()  # the new file, or the old one if the swap failed

    def _copy_to(self, tmp: Path) -> None:
        con = self._con
        con.execute("CHECKPOINT")  # a fresh connection: no other transaction can be open
        con.execute("ATTACH " + _sql_string(tmp) + " AS vault_compact")
        try:
            con.execute(f'COPY FROM DATABASE "{self._main}" TO vault_compact')
        except BaseException:
            con.execute("DETACH vault_compact")
            tmp.unlink(missing_ok=True)  # a partial copy is never swapped in
            raise
        con.execute("DETACH vault_compact")

    def _close_all(self) -> None:
        """Close every cursor and the connection, so DuckDB releases the file."""
        with self._cursors_guard:
            for cur in self._cursors:
                with contextlib.suppress(duckdb.Error):
                    cur.close()
            self._cursors.clear()
        self._generation += 1
        self._con.close()

    def close(self) -> None:
        if self._call_id_checker is not None:  # its pending rows go to the writer first
            self._call_id_checker.shutdown()
        self.audit_writer.close()  # journals every queued audit row
        self.audit_log.close()  # then applies them to the tables
        with self._lock.exclusive():
            if self._closed:
                return
            with contextlib.suppress(duckdb.Error):
                self._con.execute("CHECKPOINT")
            self._close_all()
            self._closed = True
            _release(self.path)


# One repository per database file per process: compaction swaps the file and reconnects, which
# a second connection to the same file (DuckDB shares one instance per path) would not follow.
_OPEN_PATHS: set[Path] = set()
_OPEN_GUARD = threading.Lock()


class DatabaseInUse(VaultError):
    """The database file is open elsewhere (this process or another)."""


def _claim(path: Path) -> None:
    with _OPEN_GUARD:
        if path in _OPEN_PATHS:
            raise DatabaseInUse(
                f"{path} is already open in this process: share its Vault instead of reopening"
            )
        _OPEN_PATHS.add(path)


def _release(path: Path) -> None:
    with _OPEN_GUARD:
        _OPEN_PATHS.discard(path)


def _sql_string(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _now() -> datetime:
    from .clock import now

    return now()


def _pass_outcome(source: Future[None], target: Future[None]) -> None:
    exc = source.exception()
    if exc is None:
        target.set_result(None)
    else:
        target.set_exception(exc)


def _sealed_of(rows: list[tuple[Any, ...]]) -> SealedSecret | None:
    if not rows:
        return None
    tenant, provider, status, secret_version, dk_version, ciphertext, _, _ = rows[0]
    wrapped = {r[6]: bytes(r[7]) for r in rows if r[6] is not None}
    blob = bytes(ciphertext) if ciphertext is not None else None
    return SealedSecret(tenant, provider, Status(status), secret_version, dk_version, blob, wrapped)
