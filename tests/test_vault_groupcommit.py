"""The vault's hot path: audit rows group-committed (durable before the caller goes on, one bad
row failing only itself) and credentials read from a cache that every write drops."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import duckdb
import pytest

from byokvault.engine.vault.errors import AuditWriteFailed, VaultInputError
from byokvault.engine.vault.groupcommit import AuditRow, GroupCommitter
from byokvault.engine.vault.model import PLATFORM_TENANT, FundSource, Status
from byokvault.engine.vault.resolve import cached_fund_sources, fund_sources
from byokvault.engine.vault.secret import Secret
from byokvault.engine.vault.vault import Vault


@pytest.fixture()
def vault(tmp_path: Path) -> Iterator[Vault]:
    v = Vault.open(tmp_path / "v.duckdb", key_file=tmp_path / "v.kek")
    yield v
    v.close()


def test_rows_queued_during_a_commit_share_the_next_one() -> None:
    release = threading.Event()
    commits: list[list[tuple]] = []

    def commit(rows: Sequence[AuditRow]) -> None:
        release.wait(5)  # the first commit is slow: everything else queues behind it
        commits.append([r.values for r in rows])

    writer = GroupCommitter(commit)
    futures = [writer.submit("access", (i,)) for i in range(50)]
    release.set()
    for future in futures:
        assert future.result(5) is None
    writer.close()
    assert sorted(v for batch in commits for (v,) in batch) == list(range(50))
    assert len(commits) < 50  # batched, not one commit per row
    assert writer.batches == len(commits)


def test_a_bad_row_fails_only_its_own_caller() -> None:
    committed: list[int] = []
    gate = threading.Event()

    def commit(rows: Sequence[AuditRow]) -> None:
        gate.wait(5)
        if any(r.values[0] == 13 for r in rows):
            raise duckdb.ConstraintException("duplicate key")
        committed.extend(r.values[0] for r in rows)

    writer = GroupCommitter(commit)
    futures = {i: writer.submit("resolution", (i,)) for i in range(20)}
    gate.set()
    with pytest.raises(duckdb.ConstraintException):
        futures[13].result(5)
    for i, future in futures.items():
        if i != 13:
            assert future.result(5) is None
    writer.close()
    assert sorted(committed) == [i for i in range(20) if i != 13]


def test_concurrent_accesses_are_all_logged_durably(tmp_path: Path) -> None:
    vault = Vault.open(tmp_path / "v.duckdb", key_file=tmp_path / "v.kek")
    cred = vault.add_credential("acme", "openai", "k", Secret("sk-acme-concurrent-0001"))
    errors: list[BaseException] = []

    def open_many(worker: int) -> None:
        try:
            for i in range(15):
                vault.decrypt_for_call(
                    "acme", cred.credential_id, purpose="call", call_id=f"c{worker}-{i}", actor="t"
                )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_many, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    vault.close()
    reopened = Vault.open(tmp_path / "v.duckdb", key_file=tmp_path / "v.kek")
    logged = {e.call_id for e in reopened.access_log("acme", limit=1000)}
    reopened.close()
    assert logged == {f"c{w}-{i}" for w in range(6) for i in range(15)}


def test_a_failed_audit_commit_means_no_secret(vault: Vault, monkeypatch) -> None:
    cred = vault.add_credential("acme", "openai", "k", Secret("sk-acme-audit-fail-0001"))

    def broken(rows: Sequence[AuditRow]) -> None:
        raise duckdb.IOException("disk full")

    monkeypatch.setattr(vault.repo.audit_writer, "_commit", broken)
    with pytest.raises(AuditWriteFailed):
        vault.decrypt_for_call("acme", cred.credential_id, purpose="call", call_id="x", actor="t")


def test_every_credential_write_is_seen_by_the_next_read(vault: Vault) -> None:
    assert fund_sources(vault, "acme")["byok"] == frozenset()
    cred = vault.add_credential("acme", "openai", "k", Secret("sk-acme-cache-key-0001"))
    assert cached_fund_sources(vault, "acme") is None  # the write dropped the cache
    assert fund_sources(vault, "acme")["byok"] == {"openai"}
    assert cached_fund_sources(vault, "acme") == fund_sources(vault, "acme")
    vault.set_status(cred.credential_id, Status.revoked, "probe: http_401")
    assert fund_sources(vault, "acme")["byok"] == frozenset()
    vault.set_status(cred.credential_id, Status.active, None)
    vault.replace_secret("acme", cred.credential_id, Secret("sk-acme-cache-key-0002"))
    res = vault.resolve("acme", "openai", "call-new", allow_platform_fallback=False)
    assert res.secret.reveal() == "sk-acme-cache-key-0002"  # never the old ciphertext
    vault.delete_credential("acme", cred.credential_id)
    assert fund_sources(vault, "acme")["byok"] == frozenset()


def test_a_warm_resolution_runs_no_query(vault: Vault, monkeypatch) -> None:
    own = vault.add_credential("acme", "openai", "k", Secret("sk-acme-warm-key-0001"))
    vault.add_credential(PLATFORM_TENANT, "openai", "p", Secret("sk-platform-warm-0001"))
    vault.resolve("acme", "openai", "warm-up", allow_platform_fallback=True)

    use = vault.repo._use

    def no_query_here():  # the audit log's applier thread still inserts, off the call's path
        if threading.current_thread().name != "vault-audit-apply":
            raise AssertionError("a warm resolution must not query the key store")
        return use()

    monkeypatch.setattr(vault.repo, "_use", no_query_here)
    res = vault.resolve("acme", "openai", "warm-2", allow_platform_fallback=True, wait=False)
    assert res.credential_id == own.credential_id and res.fund_source == FundSource.byok
    res.wait_durable()
    monkeypatch.undo()
    assert vault.repo.resolution("warm-2").credential_id == own.credential_id
    [event] = [e for e in vault.access_log("acme") if e.call_id == "warm-2"]
    assert event.result == "opened"


def test_a_reused_call_id_is_refused(vault: Vault) -> None:
    vault.add_credential("acme", "openai", "k", Secret("sk-acme-reuse-key-0001"))
    vault.resolve("acme", "openai", "once", allow_platform_fallback=False)
    with pytest.raises(VaultInputError, match="already resolved"):
        vault.resolve("acme", "openai", "once", allow_platform_fallback=False)


def test_a_call_id_resolved_before_a_restart_is_refused(tmp_path: Path) -> None:
    vault = Vault.open(tmp_path / "v.duckdb", key_file=tmp_path / "v.kek")
    vault.add_credential("acme", "openai", "k", Secret("sk-acme-restart-key-01"))
    vault.resolve("acme", "openai", "before", allow_platform_fallback=False)
    vault.close()
    vault = Vault.open(tmp_path / "v.duckdb", key_file=tmp_path / "v.kek")
    try:
        with pytest.raises(VaultInputError, match="already resolved"):
            vault.resolve("acme", "openai", "before", allow_platform_fallback=False)
    finally:
        vault.close()


def test_large_and_small_batches_store_the_same_rows(vault: Vault) -> None:
    """Both write paths of a group commit (row by row, one Arrow table) store every field."""
    from byokvault.engine.vault.model import AccessEvent, AccessResult
    from byokvault.engine.vault.store import ARROW_FROM_ROWS

    def events(prefix: str, n: int) -> list[AccessEvent]:
        return [
            AccessEvent(
                f"{prefix}{i}", vault_now(), "actor", "acme", "cred_x", "call",
                f"{prefix}-call-{i}", AccessResult.opened if i % 2 else AccessResult.denied,
                None if i % 3 else "why",
            )
            for i in range(n)
        ]  # fmt: skip

    small, large = events("s", 2), events("l", ARROW_FROM_ROWS + 4)
    for batch in (small, large):
        rows = [AuditRow("access", _access_values(e)) for e in batch]
        vault.repo._commit_audit(rows)
    stored = {e.event_id: e for e in vault.access_log("acme", limit=1000)}
    for event in small + large:
        assert stored[event.event_id] == event


def vault_now():
    from byokvault.engine.vault.clock import now

    return now()


def _access_values(e) -> tuple:
    return (e.event_id, e.at, e.actor, e.tenant_id, e.credential_id, e.purpose, e.call_id,
            str(e.result), e.detail)  # fmt: skip
