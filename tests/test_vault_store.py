"""The vault on a real DuckDB file: migrations, write-only secrets, audited decrypts, tenant
isolation, re-key that leaves no old bytes behind, and key rotation."""

from __future__ import annotations

import base64
import threading
import time
from pathlib import Path

import duckdb
import pytest

from byokvault.engine.vault import crypto
from byokvault.engine.vault.errors import (
    AccessDenied,
    AuditWriteFailed,
    CredentialNotFound,
    DecryptFailed,
    PurgeIncomplete,
    VaultInputError,
)
from byokvault.engine.vault.model import PLATFORM_TENANT, AccessResult, Credential
from byokvault.engine.vault.secret import Secret
from byokvault.engine.vault.store import DatabaseInUse, DuckDBVaultRepository, migration_files
from byokvault.engine.vault.vault import Vault


@pytest.fixture()
def vault(tmp_path: Path) -> Vault:
    v = Vault.open(tmp_path / "vault.duckdb", key_file=tmp_path / "vault.kek")
    yield v
    v.close()


def _open(v: Vault, tenant: str, cred: Credential, call: str = "call-1") -> Secret:
    return v.decrypt_for_call(tenant, cred.credential_id, purpose="call", call_id=call, actor="t")


def test_migrations_recorded_once(tmp_path: Path) -> None:
    repo = DuckDBVaultRepository(tmp_path / "v.duckdb")
    expected = {
        "vault": [name for name, _ in migration_files("vault")],
        "audit": [name for name, _ in migration_files("vault/audit")],
    }
    assert expected["vault"] and expected["audit"]
    assert repo.applied_migrations() == expected
    repo.close()
    again = DuckDBVaultRepository(tmp_path / "v.duckdb")  # reopening applies nothing twice
    assert again.applied_migrations() == expected
    again.close()


def test_default_paths_live_in_the_data_dir(tmp_path: Path) -> None:
    v = Vault.open()
    v.add_credential("acme", "openai", "main", Secret("sk-default-path-key-1234"))
    v.close()
    data = Path(__import__("os").environ["BYOKVAULT_DATA"])
    assert (data / "vault.duckdb").exists() and (data / "vault.kek").exists()


def test_secret_is_write_only_and_round_trips_through_the_audited_path(vault: Vault) -> None:
    cred = vault.add_credential("acme", "openai", "prod key", Secret("sk-acme-secret-9876"))
    assert cred.fingerprint == "9876" and cred.has_secret and cred.status == "unknown"
    public = cred.public()
    assert "sk-acme" not in repr(cred) and "sk-acme" not in str(public)
    assert _open(vault, "acme", cred).reveal() == "sk-acme-secret-9876"
    [event] = vault.repo.access_log("acme")
    assert (event.result, event.purpose, event.call_id) == (AccessResult.opened, "call", "call-1")


def test_purpose_and_call_id_are_required_and_denials_logged(vault: Vault) -> None:
    cred = vault.add_credential("acme", "openai", "k", Secret("sk-acme-secret-0001"))
    with pytest.raises(AccessDenied, match="call id"):
        vault.decrypt_for_call("acme", cred.credential_id, purpose="call", call_id="", actor="t")
    with pytest.raises(AccessDenied, match="purpose"):
        vault.decrypt_for_call("acme", cred.credential_id, purpose="", call_id="c", actor="t")
    results = [e.result for e in vault.repo.access_log("acme")]
    assert results == [AccessResult.denied, AccessResult.denied]


def test_failed_audit_write_fails_the_access(vault: Vault, monkeypatch) -> None:
    cred = vault.add_credential("acme", "openai", "k", Secret("sk-acme-secret-0002"))

    def broken(event):
        raise duckdb.IOException("disk full")

    monkeypatch.setattr(vault.repo, "append_access", broken)
    with pytest.raises(AuditWriteFailed):
        _open(vault, "acme", cred)


def test_tenant_isolation(vault: Vault) -> None:
    a = vault.add_credential("tenant-a", "openai", "a", Secret("sk-tenant-a-key-aaaa"))
    b = vault.add_credential("tenant-b", "openai", "b", Secret("sk-tenant-b-key-bbbb"))
    assert [c.credential_id for c in vault.list_credentials("tenant-a")] == [a.credential_id]
    assert [c.credential_id for c in vault.list_credentials("tenant-b")] == [b.credential_id]
    for action in (
        lambda: vault.get_credential("tenant-a", b.credential_id),
        lambda: _open(vault, "tenant-a", b),
        lambda: vault.replace_secret("tenant-a", b.credential_id, Secret("sk-hijack-0000")),
        lambda: vault.delete_credential("tenant-a", b.credential_id),
    ):
        with pytest.raises(CredentialNotFound) as err:
            action()
        assert "sk-tenant-b" not in str(err.value)
    # B's credential is untouched and the attempt is on A's audit trail, not B's.
    assert _open(vault, "tenant-b", b).reveal() == "sk-tenant-b-key-bbbb"
    assert [e.result for e in vault.repo.access_log("tenant-a")] == [AccessResult.denied]


def test_ciphertext_copied_to_another_tenant_row_fails(vault: Vault) -> None:
    a = vault.add_credential("tenant-a", "openai", "a", Secret("sk-tenant-a-key-aaaa"))
    b = vault.add_credential("tenant-b", "openai", "b", Secret("sk-tenant-b-key-bbbb"))
    con = vault.repo._cursor()  # simulate an attacker with write access to the file
    con.execute(
        "UPDATE vault_credentials SET ciphertext = (SELECT ciphertext FROM vault_credentials "
        "WHERE credential_id = ?) WHERE credential_id = ?",
        [a.credential_id, b.credential_id],
    )
    vault.repo.forget_cached()  # changed behind the repository's back
    with pytest.raises(DecryptFailed):
        _open(vault, "tenant-b", b)
    assert vault.repo.access_log("tenant-b")[0].result == AccessResult.failed


@pytest.mark.parametrize(
    ("field", "value"),
    [("tenant_id", "bad tenant"), ("provider_id", ""), ("label", ""), ("base_url", "ftp://x")],
)
def test_bad_input_names_the_field(vault: Vault, field: str, value: str) -> None:
    args = {"tenant_id": "acme", "provider_id": "openai", "label": "k", "base_url": None}
    args[field] = value
    with pytest.raises(VaultInputError) as err:
        vault.add_credential(secret=Secret("sk-whatever-1234"), **args)
    assert err.value.field == field
    assert vault.list_credentials("acme") == []


def test_platform_and_local_endpoint_credentials(vault: Vault) -> None:
    plat = vault.add_credential(PLATFORM_TENANT, "openai", "platform", Secret("sk-platform-77"))
    local = vault.add_credential("acme", "ollama", "laptop", None, base_url="http://127.0.0.1:1")
    assert plat.tenant_id == PLATFORM_TENANT and not local.has_secret
    with pytest.raises(AccessDenied, match="no secret"):
        _open(vault, "acme", local)
    with pytest.raises(VaultInputError, match="secret"):
        vault.add_credential("acme", "openai", "k", None)


def _raw_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in path.parent.glob(path.stem + "*"))


def test_rekey_leaves_no_old_bytes_in_the_database_file(vault: Vault) -> None:
    old_plain = "sk-old-secret-" + "x1y2" * 8
    cred = vault.add_credential("acme", "openai", "k", Secret(old_plain))
    for i in range(20):  # neighbours, so the file has real blocks around the secret
        vault.add_credential("acme", "openai", f"n{i}", Secret(f"sk-neighbour-{i:04d}-abcdefgh"))
    old_ct = vault.repo.secret_for_decrypt(cred.credential_id).ciphertext
    vault.repo._cursor().execute("CHECKPOINT")
    assert old_ct in _raw_bytes(vault.repo.path)  # the scan can see a ciphertext when present
    vault.replace_secret("acme", cred.credential_id, Secret("sk-new-secret-abcdefghij"))
    raw = _raw_bytes(vault.repo.path)
    for form in _forms(old_plain):
        assert form not in raw
    assert old_ct not in raw
    assert _open(vault, "acme", cred).reveal() == "sk-new-secret-abcdefghij"
    assert vault.get_credential("acme", cred.credential_id).secret_version == 2
    # Everything else survived the compaction, constraints included.
    assert len(vault.list_credentials("acme")) == 21
    with pytest.raises(duckdb.ConstraintException):
        vault.repo._cursor().execute(
            "INSERT INTO vault_credentials SELECT * FROM vault_credentials LIMIT 1"
        )


def test_freed_blocks_keep_old_bytes_without_compaction(tmp_path: Path) -> None:
    """Why the vault compacts: DuckDB alone keeps a replaced blob in the file."""
    con = duckdb.connect(str(tmp_path / "plain.duckdb"))
    con.execute("CREATE TABLE t (id INTEGER, b BLOB)")
    old = b"OLD-BLOB-" + bytes(range(48))
    con.execute("INSERT INTO t VALUES (1, ?)", [old])
    con.execute("CHECKPOINT")
    con.execute("UPDATE t SET b = ? WHERE id = 1", [b"NEW"])
    con.execute("CHECKPOINT")
    con.close()
    assert old in (tmp_path / "plain.duckdb").read_bytes()


def test_delete_destroys_the_ciphertext(vault: Vault) -> None:
    cred = vault.add_credential("acme", "openai", "k", Secret("sk-delete-me-0123456789"))
    old_ct = vault.repo.secret_for_decrypt(cred.credential_id).ciphertext
    vault.delete_credential("acme", cred.credential_id)
    assert old_ct not in _raw_bytes(vault.repo.path)
    assert vault.list_credentials("acme") == []


def test_data_key_rotation_reencrypts_and_destroys_the_old_key(vault: Vault) -> None:
    creds = [
        vault.add_credential("acme", "openai", f"k{i}", Secret(f"sk-rot-{i}-abcdefgh"))
        for i in range(3)
    ]
    other = vault.add_credential("globex", "openai", "g", Secret("sk-globex-abcdefgh"))
    before = {c.credential_id: vault.repo.secret_for_decrypt(c.credential_id) for c in creds}
    assert vault.rotate_data_key("acme") == 2
    raw = _raw_bytes(vault.repo.path)
    for i, cred in enumerate(creds):
        sealed = vault.repo.secret_for_decrypt(cred.credential_id)
        assert sealed.dk_version == 2 and sealed.ciphertext != before[cred.credential_id].ciphertext
        assert before[cred.credential_id].ciphertext not in raw
        for wrapped in before[cred.credential_id].wrapped.values():
            assert wrapped not in raw  # the old data key is gone
        assert _open(vault, "acme", cred, f"c{i}").reveal() == f"sk-rot-{i}-abcdefgh"
    assert _open(vault, "globex", other).reveal() == "sk-globex-abcdefgh"
    rotation_events = [e for e in vault.repo.access_log("acme") if e.purpose == "data_key_rotation"]
    assert len(rotation_events) == 3


def test_kek_rotation_rewraps_and_updates_the_key_file(vault: Vault, tmp_path: Path) -> None:
    creds = [
        vault.add_credential(f"t{i}", "openai", "k", Secret(f"sk-kek-{i}-abcdefgh"))
        for i in range(4)
    ]
    old_id = vault.keyring.current_id
    report = vault.rotate_kek(crypto.new_key())
    assert report.rewrapped == 4 and report.retired == [old_id]
    assert vault.repo.kek_usage() == {report.kek_id: 4}
    assert crypto.read_key_file(tmp_path / "vault.kek").ids == {report.kek_id}
    with pytest.raises(DatabaseInUse):  # compaction could not follow a second connection
        Vault.open(tmp_path / "vault.duckdb", key_file=tmp_path / "vault.kek")
    vault.close()
    reopened = Vault.open(tmp_path / "vault.duckdb", key_file=tmp_path / "vault.kek")
    for i, cred in enumerate(creds):
        assert _open(reopened, f"t{i}", cred).reveal() == f"sk-kek-{i}-abcdefgh"
    reopened.close()


def test_kek_rotation_through_the_environment(tmp_path: Path, monkeypatch) -> None:
    old, new = crypto.new_key(), crypto.new_key()
    monkeypatch.setenv(crypto.KEK_ENV, base64.b64encode(old).decode())
    v = Vault.open(tmp_path / "v.duckdb")
    cred = v.add_credential("acme", "openai", "k", Secret("sk-env-rotation-abcd"))
    v.close()
    monkeypatch.setenv(crypto.KEK_ENV, base64.b64encode(new).decode())
    monkeypatch.setenv(crypto.KEK_PREVIOUS_ENV, base64.b64encode(old).decode())
    v = Vault.open(tmp_path / "v.duckdb")
    assert v.rotate_kek().rewrapped == 1
    v.close()
    monkeypatch.delenv(crypto.KEK_PREVIOUS_ENV)
    v = Vault.open(tmp_path / "v.duckdb")
    assert _open(v, "acme", cred).reveal() == "sk-env-rotation-abcd"
    assert not (tmp_path / "vault.kek").exists()
    v.close()


def test_kek_rotation_under_load_has_zero_reader_failures(vault: Vault) -> None:
    creds = [
        (f"t{i}", vault.add_credential(f"t{i}", "openai", "k", Secret(f"sk-load-{i}-abcd")))
        for i in range(6)
    ]
    stop = threading.Event()
    failures: list[BaseException] = []
    reads = [0]

    def reader(n: int) -> None:
        i = 0
        while not stop.is_set():
            tenant, cred = creds[(n + i) % len(creds)]
            try:
                assert _open(vault, tenant, cred, f"r{n}-{i}").reveal().startswith("sk-load-")
                reads[0] += 1
            except BaseException as exc:
                failures.append(exc)
            i += 1

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    while reads[0] < 3:  # readers are running before the first rotation starts
        time.sleep(0.005)
    before = reads[0]
    for _ in range(3):
        vault.rotate_kek(crypto.new_key())
    during = reads[0] - before
    stop.set()
    for t in threads:
        t.join()
    assert failures == []
    assert during >= 3  # decrypts really overlapped the rotations
    assert len(vault.repo.kek_usage()) == 1


def _forms(plain: str) -> list[bytes]:
    raw = plain.encode()
    return [raw, base64.b64encode(raw), raw.hex().encode(), raw.hex().upper().encode()]


def test_data_key_rotation_under_load_has_zero_reader_failures(vault: Vault) -> None:
    creds = [
        vault.add_credential("acme", "openai", f"k{i}", Secret(f"sk-dk-load-{i}-abcd"))
        for i in range(4)
    ]
    stop = threading.Event()
    failures: list[BaseException] = []

    def reader(n: int) -> None:
        i = 0
        while not stop.is_set():
            cred = creds[(n + i) % len(creds)]
            try:
                assert _open(vault, "acme", cred, f"d{n}-{i}").reveal().startswith("sk-dk-load-")
            except BaseException as exc:
                failures.append(exc)
            i += 1

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    versions = [vault.rotate_data_key("acme") for _ in range(3)]
    stop.set()
    for t in threads:
        t.join()
    assert failures == [] and versions == [2, 3, 4]


def test_a_second_process_gets_a_clear_error(vault: Vault, tmp_path: Path) -> None:
    import subprocess
    import sys

    script = (
        "from pathlib import Path\n"
        "from byokvault.engine.vault.vault import Vault\n"
        "from byokvault.engine.vault.errors import VaultError\n"
        "try:\n"
        f"    Vault.open(Path({str(tmp_path / 'vault.duckdb')!r}), Path({str(tmp_path / 'k')!r}))\n"
        "except VaultError as exc:\n"
        "    print('refused:', exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert "refused:" in out.stdout and "another process" in out.stdout, out.stderr


def test_failed_compaction_leaves_the_vault_working(vault: Vault, monkeypatch) -> None:
    cred = vault.add_credential("acme", "openai", "k", Secret("sk-compaction-fails-0001"))

    def broken(tmp: Path) -> None:
        raise duckdb.IOException("disk full")

    monkeypatch.setattr(vault.repo, "_copy_to", broken)
    with pytest.raises(PurgeIncomplete, match="committed"):
        vault.replace_secret("acme", cred.credential_id, Secret("sk-compaction-fails-0002"))
    # The new secret is committed; the vault keeps serving; the next compaction cleans up.
    assert _open(vault, "acme", cred).reveal() == "sk-compaction-fails-0002"
    monkeypatch.undo()
    vault.repo.purge_freed_space()
    assert _open(vault, "acme", cred, "c2").reveal() == "sk-compaction-fails-0002"
