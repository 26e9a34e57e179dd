"""The vault's audit rows, journal first (engine/vault/auditlog.py): an access event is durable
in the log before its secret is decrypted and survives a kill -9 that comes before the tables
have it; reads wait for the tables; a torn tail is dropped, damage refuses to open; the log
holds no secret; a reused call id is still refused once the memory of call ids is not enough."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from byokvault.engine.vault import auditlog
from byokvault.engine.vault import store as store_module
from byokvault.engine.vault.auditlog import AuditLogDamaged
from byokvault.engine.vault.errors import AuditWriteFailed, CredentialNotFound, VaultInputError
from byokvault.engine.vault.groupcommit import AuditRow
from byokvault.engine.vault.model import AccessResult, FundSource
from byokvault.engine.vault.secret import Secret
from byokvault.engine.vault.store import audit_log_path
from byokvault.engine.vault.vault import Vault

SECRET = "sk-acme-journal-secret-0001"


def _open_vault(tmp_path: Path) -> Vault:
    return Vault.open(tmp_path / "v.duckdb", key_file=tmp_path / "v.kek")


def _access_row(i: int, at: datetime | None = None) -> AuditRow:
    at = at or datetime(2026, 1, 1, tzinfo=UTC) + timedelta(microseconds=i)
    values = (f"ev{i}", at, "t", "acme", "cred_x", "call", f"call-{i}", "opened", None)
    return AuditRow("access", values)


def _hold_the_tables(vault: Vault) -> threading.Event:
    """Stop the applier before its next insert (the rows stay acknowledged in the log only)."""
    release = threading.Event()
    apply = vault.repo.audit_log._apply

    def held(rows):
        release.wait(30)
        apply(rows)

    vault.repo.audit_log._apply = held
    return release


def _table_call_ids(tmp_path: Path, table: str = "vault_access_log") -> list[str]:
    con = duckdb.connect(str(tmp_path / "v_audit.duckdb"), read_only=True)
    try:
        return [
            r[0] for r in con.execute(f"SELECT call_id FROM {table} ORDER BY call_id").fetchall()
        ]
    finally:
        con.close()


# -- the frame format ---------------------------------------------------------------------


_text = st.text(max_size=20)
_opt = st.none() | _text
_when = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
_rows = st.lists(
    st.tuples(_text, _when, _text, _text, _text, _opt, _opt, _text, _opt).map(
        lambda v: AuditRow("access", v)
    )
    | st.tuples(_text, _when, _text, _text, _opt, _text, _text).map(
        lambda v: AuditRow("resolution", v)
    ),
    max_size=6,
)


@settings(max_examples=40, deadline=None)
@given(rows=_rows, cut=st.integers(min_value=0, max_value=10_000))
def test_frames_round_trip_and_a_cut_keeps_a_prefix(tmp_path_factory, rows, cut: int) -> None:
    path = tmp_path_factory.mktemp("log") / "a.journal"
    data = b"".join(auditlog.encode(rows))
    path.write_bytes(data)
    assert auditlog.read(path) == rows
    path.write_bytes(data[: min(cut, len(data))])  # a crash mid-write: a torn tail
    kept = auditlog.read(path)
    assert kept == rows[: len(kept)]
    assert len(kept) == len(rows) or cut < len(data)


def test_a_damaged_frame_is_refused_with_where(tmp_path: Path) -> None:
    path = tmp_path / "a.journal"
    data = bytearray(b"".join(auditlog.encode([_access_row(i) for i in range(3)])))
    data[len(data) // 2] ^= 0x20  # one flipped bit inside a whole frame
    path.write_bytes(bytes(data))
    with pytest.raises(AuditLogDamaged, match=r"a\.journal: the frame at byte \d+ fails"):
        auditlog.read(path)


# -- durability and the guarantee ---------------------------------------------------------


def test_the_access_event_is_in_the_log_before_the_secret_is_returned(tmp_path: Path) -> None:
    vault = _open_vault(tmp_path)
    cred = vault.add_credential("acme", "openai", "k", Secret(SECRET))
    release = _hold_the_tables(vault)
    secret = vault.decrypt_for_call(
        "acme", cred.credential_id, purpose="call", call_id="call-7", actor="t"
    )
    assert secret.reveal() == SECRET
    logged = auditlog.read(audit_log_path(vault.repo.path))  # the tables do not have it yet
    assert [(r.table, r.values[6], r.values[7]) for r in logged] == [("access", "call-7", "opened")]
    release.set()
    assert [e.call_id for e in vault.access_log("acme")] == ["call-7"]  # (waits for the apply)
    vault.close()
    assert audit_log_path(vault.repo.path).read_bytes() == b""  # emptied once applied


def test_the_log_and_the_tables_hold_no_secret(tmp_path: Path) -> None:
    vault = _open_vault(tmp_path)
    cred = vault.add_credential("acme", "openai", "k", Secret(SECRET))
    release = _hold_the_tables(vault)
    vault.resolve("acme", "openai", "call-1", allow_platform_fallback=False)
    with pytest.raises(CredentialNotFound):  # a denied access is logged too
        vault.decrypt_for_call("other", cred.credential_id, purpose="call", call_id="c2", actor="t")
    log_bytes = audit_log_path(vault.repo.path).read_bytes()
    assert b"call-1" in log_bytes and b"c2" in log_bytes  # both rows are there...
    assert SECRET.encode() not in log_bytes  # ...and no key material
    assert SECRET[3:15].encode() not in log_bytes
    release.set()
    vault.close()
    assert SECRET.encode() not in (tmp_path / "v_audit.duckdb").read_bytes()


_CHILD = textwrap.dedent(
    """
    import sys, threading
    from pathlib import Path
    from byokvault.engine.vault.vault import Vault
    from byokvault.engine.vault.secret import Secret

    root, hold = Path(sys.argv[1]), sys.argv[2] == "hold"
    vault = Vault.open(root / "v.duckdb", key_file=root / "v.kek")
    if hold:  # the tables never get the rows: only the log can bring them back
        vault.repo.audit_log._apply = lambda rows: threading.Event().wait()
    res = vault.resolve("acme", "openai", "call-killed", allow_platform_fallback=False)
    assert res.secret.reveal() == sys.argv[3]
    print("decrypted", flush=True)
    threading.Event().wait()
    """
)


@pytest.mark.parametrize("hold", ["hold", "free"])
def test_kill_9_after_decrypt_keeps_the_access_event(tmp_path: Path, hold: str) -> None:
    vault = _open_vault(tmp_path)
    vault.add_credential("acme", "openai", "k", Secret(SECRET))
    vault.close()
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(tmp_path), hold, SECRET],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    try:
        assert child.stdout.readline().strip() == "decrypted"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    if hold == "hold":
        assert _table_call_ids(tmp_path) == []  # the tables never had it...
    reopened = _open_vault(tmp_path)
    try:
        [event] = reopened.access_log("acme")  # ...the log brought it back
        assert (event.call_id, event.result) == ("call-killed", AccessResult.opened)
        assert reopened.repo.resolution("call-killed").fund_source == FundSource.byok
        with pytest.raises(VaultInputError, match="already resolved"):
            reopened.resolve("acme", "openai", "call-killed", allow_platform_fallback=False)
    finally:
        reopened.close()


# -- open: replay, torn tail, damage ----------------------------------------------------------


def test_open_replays_what_the_tables_lack_once(tmp_path: Path) -> None:
    _open_vault(tmp_path).close()
    rows = [_access_row(i) for i in range(4)]
    path = audit_log_path(tmp_path / "v.duckdb")
    path.write_bytes(b"".join(auditlog.encode(rows[:2])))
    _open_vault(tmp_path).close()  # replays 2
    # a crash after the apply but before the reset leaves rows the tables already hold
    path.write_bytes(b"".join(auditlog.encode(rows)))
    vault = _open_vault(tmp_path)
    assert vault.repo.audit_log.replayed == 4
    assert sorted(e.call_id for e in vault.access_log("acme")) == [f"call-{i}" for i in range(4)]
    vault.close()


def test_a_torn_tail_is_dropped_and_the_log_starts_clean(tmp_path: Path) -> None:
    _open_vault(tmp_path).close()
    path = audit_log_path(tmp_path / "v.duckdb")
    whole = b"".join(auditlog.encode([_access_row(1)]))
    torn = b"".join(auditlog.encode([_access_row(2)]))[:-5]
    path.write_bytes(whole + torn)
    vault = _open_vault(tmp_path)
    assert path.read_bytes() == b""  # appends never follow a torn frame
    cred = vault.add_credential("acme", "openai", "k", Secret(SECRET))
    vault.decrypt_for_call("acme", cred.credential_id, purpose="call", call_id="c3", actor="t")
    assert sorted(e.call_id for e in vault.access_log("acme")) == ["c3", "call-1"]
    vault.close()


def test_a_damaged_log_refuses_to_open_and_keeps_everything(tmp_path: Path) -> None:
    _open_vault(tmp_path).close()
    path = audit_log_path(tmp_path / "v.duckdb")
    data = bytearray(b"".join(auditlog.encode([_access_row(i) for i in range(3)])))
    data[20] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(AuditLogDamaged, match="fails its checksum"):
        _open_vault(tmp_path)
    assert path.read_bytes() == bytes(data)  # nothing dropped or rewritten
    assert _table_call_ids(tmp_path) == []  # nothing half-applied
    path.write_bytes(b"".join(auditlog.encode([_access_row(i) for i in range(3)])))
    vault = _open_vault(tmp_path)  # the file was released: a repaired log opens
    assert len(vault.access_log("acme")) == 3
    vault.close()


# -- failures and reads -----------------------------------------------------------------------


def test_a_failed_apply_fails_closed_and_reopening_replays(tmp_path: Path) -> None:
    vault = _open_vault(tmp_path)
    cred = vault.add_credential("acme", "openai", "k", Secret(SECRET))

    def broken(rows):
        raise duckdb.IOException("disk full")

    vault.repo.audit_log._apply = broken
    vault.decrypt_for_call("acme", cred.credential_id, purpose="call", call_id="c1", actor="t")
    with pytest.raises(AuditWriteFailed):
        vault.access_log("acme")
    with pytest.raises(AuditWriteFailed):  # no further secret without a log to write to
        vault.decrypt_for_call("acme", cred.credential_id, purpose="call", call_id="c2", actor="t")
    vault.close()
    reopened = _open_vault(tmp_path)
    assert [e.call_id for e in reopened.access_log("acme")] == ["c1"]
    reopened.close()


def test_a_reused_call_id_past_the_memory_is_refused_by_the_table(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(store_module, "RECENT_CALL_IDS", 2)
    vault = _open_vault(tmp_path)
    vault.add_credential("acme", "openai", "k", Secret(SECRET))
    for call in ("a", "b", "c"):  # "a" leaves the memory
        vault.resolve("acme", "openai", call, allow_platform_fallback=False)
    with pytest.raises(VaultInputError, match="'a' was already resolved"):
        vault.resolve("acme", "openai", "a", allow_platform_fallback=False)
    vault.resolve("acme", "openai", "d", allow_platform_fallback=False)  # a new one still works
    vault.close()
    assert _table_call_ids(tmp_path, "vault_resolutions") == ["a", "b", "c", "d"]
    reopened = _open_vault(tmp_path)  # at open, only the newest 2 are remembered
    try:
        for call in ("a", "d"):
            with pytest.raises(VaultInputError, match="already resolved"):
                reopened.resolve("acme", "openai", call, allow_platform_fallback=False)
    finally:
        reopened.close()


def test_rows_gather_into_one_apply_and_a_reader_cuts_it_short(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(auditlog, "APPLY_LINGER_S", 60.0)
    vault = _open_vault(tmp_path)
    cred = vault.add_credential("acme", "openai", "k", Secret(SECRET))
    applied: list[int] = []
    apply = vault.repo.audit_log._apply

    def counted(rows):
        applied.append(len(rows))
        apply(rows)

    vault.repo.audit_log._apply = counted
    for i in range(5):
        vault.decrypt_for_call(
            "acme", cred.credential_id, purpose="call", call_id=f"c{i}", actor="t"
        )
    started = time.monotonic()
    assert len(vault.access_log("acme")) == 5
    assert time.monotonic() - started < 30  # the reader did not wait out the linger
    assert applied == [5]  # one transaction for the five
    vault.close()


def test_closing_waits_for_a_call_id_still_being_checked(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(store_module, "RECENT_CALL_IDS", 1)
    vault = _open_vault(tmp_path)
    vault.add_credential("acme", "openai", "k", Secret(SECRET))
    vault.resolve("acme", "openai", "first", allow_platform_fallback=False)
    pending = vault.resolve("acme", "openai", "second", allow_platform_fallback=False, wait=False)
    vault.close()  # "second" is looked up in the table (the memory holds one id) as this runs
    pending.wait_durable(10)
    reopened = _open_vault(tmp_path)
    try:
        assert reopened.repo.resolution("second") is not None
    finally:
        reopened.close()
