"""Vault throughput: the crypto alone, the audited decrypt, credential resolution, re-key
(compaction) and KEK rotation — with a bare DuckDB primary-key lookup as the in-run baseline.

    .venv/bin/python bench/vault.py            # 200 tenants x 5 credentials
    .venv/bin/python bench/vault.py --quick    # 40 tenants x 5 credentials

Every decrypt appends an access-log row *before* decrypting (the audit requirement), so the
audited path costs at least one DuckDB read and one committed write; the figures show how much.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import duckdb

from byokvault.engine.vault import crypto
from byokvault.engine.vault.crypto import Binding
from byokvault.engine.vault.model import PLATFORM_TENANT
from byokvault.engine.vault.secret import Secret
from byokvault.engine.vault.vault import Vault


def rate(label: str, n: int, fn: Callable[[int], object]) -> float:
    started = time.perf_counter()
    for i in range(n):
        fn(i)
    elapsed = time.perf_counter() - started
    per_s = n / elapsed
    print(f"  {label:<46} {per_s:>11,.0f} /s   {elapsed / n * 1e6:>9,.1f} µs each")
    return per_s


def timed(label: str, started: float) -> None:
    print(f"  {label:<46} {(time.perf_counter() - started) * 1000:>11,.1f} ms")


def threaded_rate(label: str, threads: int, n_each: int, fn: Callable[[int, int], object]) -> float:
    def work(t: int) -> None:
        for i in range(n_each):
            fn(t, i)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - started
    per_s = threads * n_each / elapsed
    print(f"  {label:<46} {per_s:>11,.0f} /s   ({threads} threads)")
    return per_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    args = parser.parse_args()
    tenants, per_tenant = (40, 5) if args.quick else (200, 5)
    n_ops = 500 if args.quick else 2000

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["BYOKVAULT_DATA"] = tmp
        vault = Vault.open(Path(tmp) / "vault.duckdb", key_file=Path(tmp) / "vault.kek")
        print(f"vault bench: {tenants} tenants x {per_tenant} credentials, {n_ops} ops per figure")

        print("crypto only (AES-256-GCM, no storage)")
        data_key, secret = crypto.new_key(), Secret("sk-bench-" + "x" * 48)
        binding = Binding("tenant", "cred", "openai", 1, 1)
        blob = crypto.encrypt_secret(data_key, secret, binding)
        ring = crypto.Keyring([crypto.new_key()])
        wrapped = crypto.wrap_data_key(ring, "tenant", 1, data_key)
        enc = rate(
            "encrypt secret", n_ops * 10, lambda i: crypto.encrypt_secret(data_key, secret, binding)
        )
        dec = rate(
            "decrypt secret", n_ops * 10, lambda i: crypto.decrypt_secret(data_key, blob, binding)
        )
        rate(
            "unwrap data key + decrypt secret",
            n_ops * 10,
            lambda i: crypto.decrypt_secret(
                crypto.unwrap_data_key(ring, "tenant", 1, ring.current_id, wrapped), blob, binding
            ),
        )

        started = time.perf_counter()
        creds = []
        for t in range(tenants):
            for c in range(per_tenant):
                key = Secret(f"sk-bench-{t:04d}-{c:02d}-" + uuid.uuid4().hex)
                creds.append(vault.add_credential(f"tenant-{t:04d}", f"prov-{c}", "k", key))
        vault.add_credential(
            PLATFORM_TENANT, "prov-0", "platform", Secret("sk-platform-bench-0001")
        )
        added = time.perf_counter() - started
        print(f"  {'add_credential (encrypt + insert)':<46} {len(creds) / added:>11,.0f} /s")

        print("storage baseline (same DuckDB file)")
        cur = vault.repo._cursor()
        ids = [c.credential_id for c in creds]
        base = rate(
            "bare PK lookup (SELECT label ... WHERE id=?)",
            n_ops,
            lambda i: cur.execute(
                "SELECT label FROM vault_credentials WHERE credential_id = ?", [ids[i % len(ids)]]
            ).fetchone(),
        )
        plain_insert = rate(
            "bare single-row INSERT (autocommit)",
            n_ops,
            lambda i: cur.execute(
                "INSERT INTO audit.vault_alerts VALUES (?, now(), 'b', 'low', 't', NULL, NULL, '')",
                [uuid.uuid4().hex],
            ),
        )

        print("audited vault paths")

        def decrypt(i: int, t: int = 0) -> None:
            c = creds[(i * 7 + t) % len(creds)]
            vault.decrypt_for_call(
                c.tenant_id, c.credential_id, purpose="call", call_id=f"b{t}-{i}", actor="bench"
            )

        d1 = rate("decrypt_for_call (read + audit write + decrypt)", n_ops, decrypt)
        d2 = threaded_rate("decrypt_for_call", 2, n_ops // 2, lambda t, i: decrypt(i, t + 1))

        def resolve(i: int) -> None:
            t = i % tenants
            vault.resolve(
                f"tenant-{t:04d}",
                f"prov-{i % per_tenant}",
                f"call-{uuid.uuid4().hex}",
                allow_platform_fallback=True,
            )

        r1 = rate("resolve (tiers + decrypt + resolution row)", n_ops, resolve)
        r_platform = rate(
            "resolve via platform fallback",
            n_ops // 2,
            lambda i: vault.resolve(
                f"nobody-{i}", "prov-0", f"pcall-{uuid.uuid4().hex}", allow_platform_fallback=True
            ),
        )

        print("key management")
        started = time.perf_counter()
        first = creds[0]
        vault.replace_secret(first.tenant_id, first.credential_id, Secret("sk-bench-rekeyed-01"))
        size = (Path(tmp) / "vault.duckdb").stat().st_size / 1e6
        timed(f"re-key incl. compaction ({size:.1f} MB file)", started)
        audit_rows = 20_000 if args.quick else 200_000
        vault.repo._cursor().execute(
            "INSERT INTO audit.vault_access_log SELECT 'bulk-' || i, now(), 'bench', 'tenant-0', "
            "'cred', 'call', 'call-' || i, 'opened', NULL FROM range(?) t(i)",
            [audit_rows],
        )
        vault.repo._cursor().execute("CHECKPOINT audit")  # time the re-key, not this bulk load
        started = time.perf_counter()
        vault.replace_secret(first.tenant_id, first.credential_id, Secret("sk-bench-rekeyed-02"))
        timed(f"re-key again with {audit_rows:,} access-log rows", started)
        started = time.perf_counter()
        report = vault.rotate_kek(crypto.new_key())
        timed(f"rotate_kek ({report.rewrapped} data keys rewrapped)", started)
        started = time.perf_counter()
        vault.rotate_data_key(creds[1].tenant_id)
        timed(f"rotate_data_key (1 tenant, {per_tenant} secrets)", started)
        vault.close()

    print("ratios")
    print(f"  decrypt_for_call / bare PK lookup time        {base / d1:>6.1f}x")
    print(f"  decrypt_for_call / bare single-row INSERT     {plain_insert / d1:>6.1f}x")
    print(f"  resolve / decrypt_for_call time               {d1 / r1:>6.1f}x")
    print(f"  crypto share of one audited decrypt           {d1 / dec * 100:>6.2f}%")
    print(f"  2-thread decrypt speed-up                     {d2 / d1:>6.2f}x")
    print(f"  encrypt vs decrypt (crypto only)              {enc / dec:>6.2f}x")
    _ = r_platform
    duckdb.__version__  # noqa: B018 - the version is what the figures were measured on


if __name__ == "__main__":
    main()
