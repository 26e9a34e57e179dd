"""Credential resolution: tiers in order, one row per call with the reasons, fund sources,
policy from the caller, tenant isolation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from byokvault.engine.vault.errors import CredentialNotFound, NoCredential, VaultInputError
from byokvault.engine.vault.model import PLATFORM_TENANT, FundSource, Status
from byokvault.engine.vault.resolve import fund_sources, ordered_candidates, skip_reason
from byokvault.engine.vault.secret import Secret
from byokvault.engine.vault.vault import Vault


@pytest.fixture()
def vault(tmp_path: Path) -> Iterator[Vault]:
    v = Vault.open(tmp_path / "v.duckdb", key_file=tmp_path / "v.kek")
    yield v
    v.close()


def test_tenant_key_first(vault: Vault) -> None:
    own = vault.add_credential("acme", "openai", "own", Secret("sk-acme-own-key-1111"))
    vault.add_credential(PLATFORM_TENANT, "openai", "platform", Secret("sk-platform-key-2222"))
    res = vault.resolve("acme", "openai", "call-1", allow_platform_fallback=True)
    assert res.credential_id == own.credential_id and res.fund_source == FundSource.byok
    assert res.secret.reveal() == "sk-acme-own-key-1111"
    stored = vault.repo.resolution("call-1")
    assert stored.credential_id == own.credential_id and stored.fund_source == FundSource.byok
    assert [(t.tier, t.outcome) for t in stored.tiers] == [("tenant", "used")]
    assert "sk-" not in repr(stored)
    [event] = vault.access_log("acme")
    assert event.call_id == "call-1" and event.purpose == "call"


def test_platform_fallback_when_policy_allows(vault: Vault) -> None:
    revoked = vault.add_credential("acme", "openai", "own", Secret("sk-acme-own-key-3333"))
    vault.set_status(revoked.credential_id, Status.revoked, "probe: http_401")
    plat = vault.add_credential(PLATFORM_TENANT, "openai", "p", Secret("sk-platform-key-4444"))
    res = vault.resolve("acme", "openai", "call-2", allow_platform_fallback=True)
    assert res.credential_id == plat.credential_id and res.fund_source == FundSource.platform
    tiers = vault.repo.resolution("call-2").tiers
    assert [(t.tier, t.credential_id, t.outcome) for t in tiers] == [
        ("tenant", revoked.credential_id, "skipped"),
        ("platform", plat.credential_id, "used"),
    ]
    assert "revoked" in tiers[0].reason and "http_401" in tiers[0].reason


def test_policy_forbidding_platform_is_recorded_and_raises(vault: Vault) -> None:
    vault.add_credential(PLATFORM_TENANT, "openai", "p", Secret("sk-platform-key-5555"))
    with pytest.raises(NoCredential, match="policy") as err:
        vault.resolve("acme", "openai", "call-3", allow_platform_fallback=False)
    assert "sk-platform" not in str(err.value)
    stored = vault.repo.resolution("call-3")
    assert stored.fund_source == FundSource.none and stored.credential_id is None
    assert [(t.tier, t.reason) for t in stored.tiers] == [
        ("tenant", "tenant has no credential"),
        ("platform", "policy disallows platform key"),
    ]
    assert vault.access_log(PLATFORM_TENANT) == []  # the platform key was never opened


def test_local_endpoints(vault: Vault) -> None:
    local = vault.add_credential("acme", "ollama", "box", None, base_url="http://127.0.0.1:9")
    res = vault.resolve("acme", "ollama", "call-4", allow_platform_fallback=False)
    assert (res.credential_id, res.fund_source, res.secret) == (
        local.credential_id,
        FundSource.local,
        None,
    )
    assert res.base_url == "http://127.0.0.1:9"
    res = vault.resolve(
        "globex", "ollama", "call-5", allow_platform_fallback=False, provider_kind="local"
    )
    assert res.fund_source == FundSource.local and res.credential_id is None
    assert [t.tier for t in res.record.tiers] == ["tenant", "platform", "local"]


def test_one_row_per_call(vault: Vault) -> None:
    vault.add_credential("acme", "openai", "own", Secret("sk-acme-own-key-6666"))
    vault.resolve("acme", "openai", "call-6", allow_platform_fallback=False)
    with pytest.raises(VaultInputError, match="already resolved"):
        vault.resolve("acme", "openai", "call-6", allow_platform_fallback=False)


def test_tenant_never_resolves_another_tenants_key(vault: Vault) -> None:
    vault.add_credential("globex", "openai", "theirs", Secret("sk-globex-key-7777"))
    with pytest.raises(NoCredential):
        vault.resolve("acme", "openai", "call-7", allow_platform_fallback=True)
    assert vault.access_log("globex") == []
    with pytest.raises(VaultInputError):
        vault.resolve(PLATFORM_TENANT, "openai", "call-8", allow_platform_fallback=True)


def test_fund_sources_for_routing(vault: Vault) -> None:
    vault.add_credential("acme", "openai", "own", Secret("sk-acme-own-key-8888"))
    bad = vault.add_credential("acme", "anthropic", "own", Secret("sk-ant-own-key-9999"))
    vault.set_status(bad.credential_id, Status.revoked, None)
    vault.add_credential("acme", "ollama", "box", None, base_url="http://127.0.0.1:9")
    vault.add_credential(PLATFORM_TENANT, "google", "p", Secret("AIza-platform-key-0000"))
    vault.add_credential("globex", "mistral", "x", Secret("sk-globex-key-0001"))
    assert fund_sources(vault, "acme") == {
        "byok": frozenset({"openai"}),
        "platform": frozenset({"google"}),
        "local": frozenset({"ollama"}),
    }


statuses = st.sampled_from(list(Status))


@settings(max_examples=60, deadline=None)
@given(st.lists(statuses, min_size=1, max_size=6))
def test_ordering_puts_every_usable_key_before_any_unusable_one(states: list[Status]) -> None:
    from datetime import UTC, datetime, timedelta

    from byokvault.engine.vault.model import Credential

    base = datetime(2026, 1, 1, tzinfo=UTC)
    creds = [
        Credential(
            f"c{i}",
            "t",
            "p",
            None,
            "l",
            "abcd",
            s,
            None,
            1,
            1,
            True,
            base + timedelta(minutes=i),
            base,
            base,
            None,
        )
        for i, s in enumerate(states)
    ]
    ordered = ordered_candidates(creds)
    usable = [skip_reason(c) is None for c in ordered]
    assert usable == sorted(usable, reverse=True)
    actives = [c for c in ordered if c.status == Status.active]
    if actives:
        assert ordered[0].status == Status.active
        assert ordered[0].created_at == max(c.created_at for c in actives)


@settings(max_examples=8, deadline=None)
@given(
    owners=st.lists(st.sampled_from(["t-a", "t-b", "t-c"]), min_size=1, max_size=6),
    provider=st.sampled_from(["openai", "anthropic"]),
)
def test_isolation_holds_for_any_mix_of_tenants(
    tmp_path_factory: pytest.TempPathFactory, owners: list[str], provider: str
) -> None:
    tmp = tmp_path_factory.mktemp("iso")
    vault = Vault.open(tmp / "v.duckdb", tmp / "v.kek", alerts=False)
    try:
        made = [
            (owner, vault.add_credential(owner, provider, "k", Secret(f"sk-{owner}-{i}-abcdefgh")))
            for i, owner in enumerate(owners)
        ]
        for tenant in ("t-a", "t-b", "t-c"):
            mine = {c.credential_id for o, c in made if o == tenant}
            assert {c.credential_id for c in vault.list_credentials(tenant)} == mine
            if mine:
                res = vault.resolve(
                    tenant, provider, f"call-{tenant}", allow_platform_fallback=True
                )
                assert res.credential_id in mine
                assert res.secret.reveal().startswith(f"sk-{tenant}-")
            else:
                with pytest.raises(NoCredential):
                    vault.resolve(tenant, provider, f"call-{tenant}", allow_platform_fallback=True)
            for owner, cred in made:
                if owner != tenant:
                    with pytest.raises(CredentialNotFound):
                        vault.decrypt_for_call(
                            tenant, cred.credential_id, purpose="call", call_id="x", actor="t"
                        )
    finally:
        vault.close()
