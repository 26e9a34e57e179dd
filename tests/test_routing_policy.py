"""Tenant policy: defaults users expect, field-by-field overrides, located errors."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from byokvault.engine.catalog.yamlio import InputError, parse_yaml
from byokvault.engine.paths import BUNDLED_RULES
from byokvault.engine.routing.policy import BUILTIN, load_policy, parse_policy


def test_builtin_defaults_are_permissive_but_fail_closed_on_lifecycle() -> None:
    assert BUILTIN.byok_only is False
    assert BUILTIN.allowed_providers is None
    assert BUILTIN.blocked_providers == frozenset()
    assert BUILTIN.local_first is False
    assert BUILTIN.max_price_per_call is None
    assert BUILTIN.allow_deprecated is False


def test_bundled_policy_loads() -> None:
    policies = load_policy(BUNDLED_RULES / "policy.yaml")
    assert policies.version.startswith("pol_")
    private = policies.for_tenant("example-private")
    assert private.byok_only and private.local_first
    assert private.max_price_per_call == Decimal("0.50")
    assert policies.for_tenant("nobody") == policies.defaults


def test_missing_file_means_builtin(tmp_path: Path) -> None:
    assert load_policy(tmp_path / "absent.yaml").defaults == BUILTIN


def test_tenant_overrides_field_by_field() -> None:
    text = (
        "defaults:\n  blocked_providers: [shady]\n  max_price_per_call: 1.25\n"
        "tenants:\n  acme:\n    local_first: true\n  beta:\n    blocked_providers: []\n"
    )
    policies = parse_policy(parse_yaml(text, "p.yaml"), "p.yaml")
    acme = policies.for_tenant("acme")
    assert acme.local_first is True
    assert acme.blocked_providers == {"shady"}  # kept from defaults
    assert acme.max_price_per_call == Decimal("1.25")
    assert policies.for_tenant("beta").blocked_providers == frozenset()
    assert not acme.allows_provider("shady")
    assert acme.allows_provider("openai")


def test_allowed_and_blocked() -> None:
    text = "defaults:\n  allowed_providers: [a, b]\n  blocked_providers: [b]\n"
    policy = parse_policy(parse_yaml(text, "p.yaml"), "p.yaml").defaults
    assert policy.allows_provider("a")
    assert not policy.allows_provider("b")  # blocked wins
    assert not policy.allows_provider("c")


def test_version_changes_with_content() -> None:
    one = parse_policy(parse_yaml("defaults: {local_first: true}\n", "p"), "p").version
    two = parse_policy(parse_yaml("defaults: {local_first: false}\n", "p"), "p").version
    assert one != two


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("defaults:\n  byok_only: maybe\n", "p.yaml:2:14: defaults.byok_only"),
        ("defaults:\n  max_price_per_call: -1\n", "p.yaml:2:23: defaults.max_price_per_call"),
        (
            "defaults:\n  max_price_per_call: 0.1234567890123456789\n",
            "defaults.max_price_per_call: Decimal input should have no more than 18 decimal places",
        ),
        ("tenants:\n  acme:\n    colour: red\n", "p.yaml:3:13: tenants.acme.colour"),
        ("defaults:\n  allowed_providers: [Not An Id]\n", "defaults.allowed_providers.0"),
    ],
)
def test_errors_are_located(text: str, where: str) -> None:
    with pytest.raises(InputError) as info:
        parse_policy(parse_yaml(text, "p.yaml"), "p.yaml")
    assert where in str(info.value)


def test_unknown_provider_is_reported_at_its_line() -> None:
    text = (
        "defaults:\n  blocked_providers: [openai]\ntenants:\n  t:\n    allowed_providers: [nope]\n"
    )
    with pytest.raises(InputError) as info:
        parse_policy(parse_yaml(text, "p.yaml"), "p.yaml", known_providers={"openai"})
    assert [str(p) for p in info.value.problems] == [
        "p.yaml:5:25: tenants.t.allowed_providers.0: unknown provider 'nope' (not in the catalog)"
    ]
