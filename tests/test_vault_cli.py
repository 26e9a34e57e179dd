"""``byokvault vault ...`` end to end, in process: secrets in through stdin or an env var only,
never printed, never accepted on argv."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from byokvault.engine.cli import main
from byokvault.engine.fakeprovider import FakeProvider
from byokvault.engine.paths import BUNDLED_CATALOG

KEY = "sk-cli-secret-value-0123456789"


def run(capsys, monkeypatch, *argv: str, stdin: str = "") -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(["vault", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _add(capsys, monkeypatch, tenant: str = "acme", key: str = KEY) -> str:
    code, out, _ = run(
        capsys,
        monkeypatch,
        "add",
        "--tenant",
        tenant,
        "--provider",
        "openai",
        "--label",
        "main",
        "--json",
        stdin=key + "\n",
    )
    assert code == 0
    return json.loads(out)[0]["credential_id"]


def test_add_list_rotate_delete(capsys, monkeypatch) -> None:
    cred = _add(capsys, monkeypatch)
    code, out, _ = run(capsys, monkeypatch, "list", "--tenant", "acme", "--json")
    [listed] = json.loads(out)
    assert code == 0 and listed["credential_id"] == cred and listed["fingerprint"] == "…" + KEY[-4:]
    code, out, _ = run(capsys, monkeypatch, "list", "--tenant", "other")
    assert (code, out) == (0, "")
    monkeypatch.setenv("NEW_KEY", "sk-cli-rotated-value-9876")
    code, out, _ = run(
        capsys,
        monkeypatch,
        "rotate",
        "--tenant",
        "acme",
        "--credential",
        cred,
        "--secret-env",
        "NEW_KEY",
        "--json",
    )
    assert code == 0 and json.loads(out)[0]["fingerprint"] == "…9876"
    code, out, _ = run(capsys, monkeypatch, "rotate", "--tenant", "acme", "--data-key")
    assert code == 0 and json.loads(out)["data_key_version"] == 2
    code, out, _ = run(capsys, monkeypatch, "access-log", "--tenant", "acme", "--json")
    assert [e["purpose"] for e in json.loads(out)] == ["data_key_rotation"]
    code, out, _ = run(capsys, monkeypatch, "rotate-kek")
    assert code == 0 and json.loads(out)["rewrapped"] == 1
    code, out, _ = run(capsys, monkeypatch, "delete", "--tenant", "acme", "--credential", cred)
    assert code == 0
    code, out, _ = run(capsys, monkeypatch, "list", "--tenant", "acme", "--json")
    assert json.loads(out) == []


@pytest.mark.parametrize(
    "argv",
    [
        ["--secret", KEY],
        [f"--api-key={KEY}"],
        [KEY],
    ],
)
def test_secret_on_argv_is_refused_without_echo(capsys, monkeypatch, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        run(
            capsys,
            monkeypatch,
            "add",
            "--tenant",
            "a",
            "--provider",
            "openai",
            "--label",
            "x",
            *argv,
        )
    out, err = capsys.readouterr()
    assert exit_.value.code == 2 and "stdin" in err
    assert "0123456789" not in out + err


def test_errors_are_clear_and_exit_2(capsys, monkeypatch) -> None:
    code, _, err = run(capsys, monkeypatch, "delete", "--tenant", "acme", "--credential", "nope")
    assert code == 2 and "no credential 'nope' for tenant 'acme'" in err
    code, _, err = run(
        capsys,
        monkeypatch,
        "add",
        "--tenant",
        "acme",
        "--provider",
        "openai",
        "--label",
        "x",
        stdin="",
    )
    assert code == 2 and "secret" in err
    code, _, err = run(
        capsys,
        monkeypatch,
        "add",
        "--tenant",
        "bad tenant!",
        "--provider",
        "openai",
        "--label",
        "x",
        stdin=KEY,
    )
    assert code == 2 and "tenant_id" in err and KEY not in err
    code, _, err = run(
        capsys,
        monkeypatch,
        "add",
        "--tenant",
        "acme",
        "--provider",
        "openai",
        "--label",
        "x",
        "--secret-env",
        "UNSET_VAR_XYZ",
    )
    assert code == 2 and "UNSET_VAR_XYZ" in err
    monkeypatch.setenv("BYOKVAULT_KEK", "not-base64!")
    code, _, err = run(capsys, monkeypatch, "list", "--tenant", "acme")
    assert code == 2 and "BYOKVAULT_KEK: not valid base64" in err


def test_check_probes_through_the_catalog_endpoint(capsys, monkeypatch, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    shutil.copytree(BUNDLED_CATALOG, catalog)
    with FakeProvider() as fake:
        fake.add_key(KEY)
        spec = catalog / "providers" / "openai.yaml"
        spec.write_text(
            spec.read_text().replace("https://api.openai.com/v1", fake.base_url("openai"))
        )
        cred = _add(capsys, monkeypatch)
        code, out, _ = run(
            capsys, monkeypatch, "check", "--tenant", "acme", "--catalog", str(catalog), "--json"
        )
    [row] = json.loads(out)
    assert code == 0 and (row["credential_id"], row["status"], row["http_status"]) == (
        cred,
        "active",
        200,
    )
    _, out, _ = run(capsys, monkeypatch, "list", "--tenant", "acme", "--json")
    assert json.loads(out)[0]["status"] == "active"
