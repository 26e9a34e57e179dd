"""``byokvault vault ...``: add, list, rotate, delete, check, access-log, rotate-kek.

A secret is read from stdin (a prompt without echo on a terminal) or from a named environment
variable — never from argv, where it would land in shell history and ``ps`` — and never printed.
"""

from __future__ import annotations

import argparse
import functools
import getpass
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from .errors import VaultError
from .model import Credential
from .secret import Secret, install_log_redaction
from .vault import Vault


def register(subparsers: argparse._SubParsersAction) -> None:
    vault = subparsers.add_parser("vault", help="provider keys: add, list, rotate, check, audit")
    sub = vault.add_subparsers(dest="vault_command", required=True, metavar="ACTION")

    p = _command(sub, "add", "store a provider key (secret from stdin or --secret-env)", _add)
    _tenant(p)
    p.add_argument("--provider", required=True, help="provider id (catalog id)")
    p.add_argument("--label", required=True, help="a name you will recognise")
    p.add_argument("--base-url", help="endpoint URL for a local provider (no key needed)")
    _secret_options(p)

    p = _command(sub, "list", "list a tenant's credentials (never their secrets)", _list)
    _tenant(p)
    p.add_argument("--provider", help="only this provider")

    p = _command(sub, "rotate", "replace a key's secret, or rotate the tenant's data key", _rotate)
    _tenant(p)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--credential", help="credential id whose secret is replaced")
    target.add_argument(
        "--data-key", action="store_true", help="re-encrypt every secret under a new data key"
    )
    _secret_options(p)

    p = _command(sub, "delete", "delete a credential and destroy its ciphertext", _delete)
    _tenant(p)
    p.add_argument("--credential", required=True)

    p = _command(sub, "check", "probe keys against their provider's free model-list", _check)
    p.add_argument("--tenant", help="only this tenant's credentials (default: all)")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per probe")
    from ..catalog.cli import add_catalog_option

    add_catalog_option(p)

    p = _command(sub, "access-log", "show a tenant's access events", _access_log)
    _tenant(p)
    p.add_argument("--credential", help="only this credential")
    p.add_argument("--limit", type=int, default=50)

    _command(sub, "rotate-kek", "rewrap every data key under a new key-encryption key", _rotate_kek)


def _command(
    sub: argparse._SubParsersAction, name: str, help_text: str, func: Callable
) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help_text)
    p.add_argument("--db", type=Path, help="vault database (default: $BYOKVAULT_DATA/vault.duckdb)")
    p.add_argument("--key-file", type=Path, help="KEK file (default: $BYOKVAULT_DATA/vault.kek)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_with_vault(func))
    return p


def _tenant(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tenant", required=True, help="tenant id")


def _secret_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--secret-env",
        metavar="VAR",
        help="read the secret from this environment variable (default: stdin)",
    )
    # A key typed on the command line is refused without being echoed back (argparse would
    # otherwise print it in "unrecognized arguments: ...").
    p.add_argument("--secret", "--key", "--api-key", action=_RefuseSecret, help=argparse.SUPPRESS)
    p.add_argument("stray", nargs="*", action=_RefuseSecret, help=argparse.SUPPRESS)


class _RefuseSecret(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None) -> None:  # type: ignore[no-untyped-def]
        if option_string is None and not values:
            return
        parser.error(
            "a secret is never taken from the command line (it would stay in shell history "
            "and process lists): pipe it on stdin or use --secret-env VAR"
        )


def _with_vault(func: Callable[[Vault, argparse.Namespace], int]) -> Callable:
    @functools.wraps(func)
    def run(args: argparse.Namespace) -> int:
        install_log_redaction()  # second line of defence for whatever logs during the command
        try:
            vault = Vault.open(args.db, key_file=args.key_file)
        except VaultError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        try:
            return func(vault, args)
        except VaultError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        finally:
            vault.close()

    return run


def read_secret(args: argparse.Namespace) -> Secret:
    """The secret from $VAR (--secret-env) or stdin; a terminal gets a no-echo prompt."""
    if args.secret_env:
        value = os.environ.get(args.secret_env, "")
        if not value.strip():
            raise VaultError(f"--secret-env: ${args.secret_env} is empty or not set")
    elif sys.stdin.isatty():
        value = getpass.getpass("secret (not echoed): ")
    else:
        value = sys.stdin.readline()
    if not value.strip():
        raise VaultError("secret: nothing read (pipe it on stdin or use --secret-env)")
    return Secret(value)


def _add(vault: Vault, args: argparse.Namespace) -> int:
    secret = None if args.base_url and not args.secret_env else read_secret(args)
    cred = vault.add_credential(
        args.tenant, args.provider, args.label, secret, base_url=args.base_url
    )
    _show([cred], args.json)
    return 0


def _list(vault: Vault, args: argparse.Namespace) -> int:
    _show(vault.list_credentials(args.tenant, args.provider), args.json)
    return 0


def _rotate(vault: Vault, args: argparse.Namespace) -> int:
    if args.data_key:
        version = vault.rotate_data_key(args.tenant, actor="cli")
        print(json.dumps({"tenant_id": args.tenant, "data_key_version": version}))
        return 0
    cred = vault.replace_secret(args.tenant, args.credential, read_secret(args))
    _show([cred], args.json)
    return 0


def _delete(vault: Vault, args: argparse.Namespace) -> int:
    vault.delete_credential(args.tenant, args.credential)
    print(f"deleted {args.credential}")
    return 0


def _check(vault: Vault, args: argparse.Namespace) -> int:
    from ..catalog.store import open_catalog
    from .health import HealthChecker, endpoints_from_catalog

    _, con = open_catalog(args.catalog)
    endpoints = endpoints_from_catalog(con)
    con.close()
    targets = vault.list_credentials(args.tenant) if args.tenant else None
    checker = HealthChecker(
        vault, endpoints, concurrency=args.concurrency, timeout=args.timeout, actor="cli"
    )
    results = checker.run_once(targets)
    rows = [
        {
            "credential_id": r.credential_id,
            "status": str(r.status),
            "outcome": r.outcome,
            "http_status": r.http_status,
            "latency_ms": r.latency_ms,
        }
        for r in results
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
    for row in [] if args.json else rows:
        print(f"{row['credential_id']}  {row['status']:<16} {row['outcome']}")
    return 0


def _access_log(vault: Vault, args: argparse.Namespace) -> int:
    events = vault.access_log(args.tenant, args.credential, args.limit)
    if args.json:
        print(json.dumps([_event(e) for e in events], indent=2, default=str))
        return 0
    for e in events:
        print(
            f"{e.at.isoformat()}  {e.result:<7} {e.credential_id}  purpose={e.purpose} "
            f"call={e.call_id} actor={e.actor}{'  ' + e.detail if e.detail else ''}"
        )
    return 0


def _event(e: object) -> dict[str, object]:
    return {name: getattr(e, name) for name in e.__slots__}  # type: ignore[attr-defined]


def _rotate_kek(vault: Vault, args: argparse.Namespace) -> int:
    from . import crypto

    # Key-file setups get a fresh KEK; env setups rewrap to $BYOKVAULT_KEK (old ones in
    # $BYOKVAULT_KEK_PREVIOUS), since the vault cannot change the caller's environment.
    from_env = bool(os.environ.get(crypto.KEK_ENV))
    report = vault.rotate_kek(None if from_env else crypto.new_key())
    print(
        json.dumps(
            {"kek_id": report.kek_id, "rewrapped": report.rewrapped, "retired": report.retired}
        )
    )
    return 0


def _show(creds: list[Credential], as_json: bool) -> None:
    if as_json:
        print(json.dumps([c.public() for c in creds], indent=2))
        return
    for c in creds:
        where = f" {c.base_url}" if c.base_url else ""
        fp = f"…{c.fingerprint}" if c.fingerprint else "(no key)"
        print(f"{c.credential_id}  {c.provider_id:<12} {c.status:<16} {fp:<8} {c.label}{where}")
