"""The route's filters: capabilities, limits, lifecycle, policy and fund sources."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from routing_support import model_yaml, provider_yaml, write_catalog

from byokvault.engine.routing.decision import FundSources
from byokvault.engine.routing.policy import TenantPolicy
from byokvault.engine.routing.requirements import Requirements
from byokvault.engine.routing.route import Router

AT = datetime(2025, 6, 1, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory) -> Router:
    root = tmp_path_factory.mktemp("cat")
    providers = {
        "alpha": provider_yaml(
            "alpha",
            [
                model_yaml("chat-small", context=8_000, max_output=1_000),
                model_yaml("chat-vision", caps=("text.chat", "vision.multi_image"), max_images=2),
                model_yaml("old", deprecated="2025-01-01"),
                model_yaml("gone", deprecated="2024-06-01", retired="2025-01-01"),
                model_yaml("embed", mode="embedding", caps=()),
            ],
        ),
        "beta": provider_yaml("beta", [model_yaml("b-chat", caps=("tools.parallel_calls",))]),
        "homelab": provider_yaml("homelab", [model_yaml("llama", context=None)], kind="local"),
    }
    return Router.open(write_catalog(root, providers), root / "snaps")


ALL_FUNDS = FundSources(byok=frozenset({"alpha", "beta"}), local=frozenset({"homelab"}))


DEFAULT = TenantPolicy()


def rows(router: Router, req: Requirements, policy=DEFAULT, funds=ALL_FUNDS, at=AT) -> dict:
    """model_id → (fund source or None, reasons) over candidates and exclusions."""
    d = router.route_sql(req, funds=funds, at=at, policy=policy)
    out = {c.model_id: (c.fund_source, ()) for c in d.candidates}
    out.update({e.model_id: (None, e.reasons) for e in d.exclusions})
    return out


def reasons(router: Router, req: Requirements, policy=DEFAULT, funds=ALL_FUNDS):
    return {
        (p, m): rows(router, req, policy, funds)[m][1]
        for p, m in [(e.split("/")[0], e.split("/")[1]) for e in MODELS]
    }


MODELS = [
    "alpha/chat-small",
    "alpha/chat-vision",
    "alpha/old",
    "alpha/gone",
    "alpha/embed",
    "beta/b-chat",
    "homelab/llama",
]


def test_capability_closure_and_mode_capabilities(router: Router) -> None:
    got = reasons(router, Requirements(capabilities=frozenset({"text.chat"})))
    assert got[("alpha", "chat-small")] == ()
    assert got[("homelab", "llama")] == ()
    # an embedding model lacks chat; its mode gives it embeddings.text
    assert got[("alpha", "embed")] == ("missing_capability:text.chat",)
    emb = reasons(router, Requirements(capabilities=frozenset({"embeddings.text"})))
    assert emb[("alpha", "embed")] == ()
    # parallel_calls implies function_calling (the closure)
    tools = reasons(router, Requirements(capabilities=frozenset({"tools.function_calling"})))
    assert tools[("beta", "b-chat")] == ()
    assert tools[("alpha", "chat-small")] == ("missing_capability:tools.function_calling",)


def test_several_missing_capabilities_all_listed(router: Router) -> None:
    caps = frozenset({"vision.single_image", "tools.function_calling", "text.chat"})
    got = reasons(router, Requirements(capabilities=caps))
    assert got[("alpha", "chat-small")] == (
        "missing_capability:tools.function_calling",
        "missing_capability:vision.single_image",
    )


def test_limits(router: Router) -> None:
    req = Requirements(frozenset({"text.chat"}), input_tokens=7_500, output_tokens=1_200, images=3)
    got = reasons(router, req)
    assert got[("alpha", "chat-small")] == ("context_too_small", "output_too_small")
    assert got[("alpha", "chat-vision")] == ("too_many_images",)
    assert got[("homelab", "llama")] == ()  # unknown context: not checked
    fits = Requirements(frozenset({"text.chat"}), input_tokens=7_000, output_tokens=1_000)
    assert reasons(router, fits)[("alpha", "chat-small")] == ()


def test_lifecycle(router: Router) -> None:
    got = reasons(router, Requirements(frozenset({"text.chat"})))
    assert got[("alpha", "old")] == ("deprecated",)
    assert got[("alpha", "gone")] == ("retired",)
    allowed = reasons(
        router, Requirements(frozenset({"text.chat"})), TenantPolicy(allow_deprecated=True)
    )
    assert allowed[("alpha", "old")] == ()
    assert allowed[("alpha", "gone")] == ("retired",)
    before = rows(
        router,
        Requirements(frozenset({"text.chat"})),
        at=datetime(2024, 12, 31, 23, 59, tzinfo=UTC),
    )
    assert before["old"] == ("byok", ())


def test_fund_sources_and_policy(router: Router) -> None:
    req = Requirements(frozenset({"text.chat"}))
    funds = FundSources(byok=frozenset({"alpha"}), platform=frozenset({"beta"}))
    got = rows(router, req, funds=funds)
    assert got["chat-small"] == ("byok", ())
    assert got["b-chat"] == ("platform", ())
    assert got["llama"] == (None, ("no_usable_credential",))  # no local endpoint configured
    byok_only = rows(router, req, TenantPolicy(byok_only=True), funds)
    assert byok_only["b-chat"] == (None, ("no_usable_credential",))
    blocked = TenantPolicy(blocked_providers=frozenset({"alpha"}))
    assert reasons(router, req, blocked)[("alpha", "chat-small")] == ("policy_blocked",)
    only_beta = TenantPolicy(allowed_providers=frozenset({"beta"}))
    got = reasons(router, req, only_beta)
    assert got[("alpha", "chat-small")] == ("policy_blocked",)
    assert got[("beta", "b-chat")] == ()


def test_local_endpoint_is_a_fund_source(router: Router) -> None:
    got = rows(router, Requirements(), funds=FundSources(local=frozenset({"homelab"})))
    assert got["llama"] == ("local", ())
    # a BYOK entry for a local provider is not an endpoint
    got = rows(router, Requirements(), funds=FundSources(byok=frozenset({"homelab"})))
    assert got["llama"] == (None, ("no_usable_credential",))


def test_naive_time_is_refused(router: Router) -> None:
    with pytest.raises(ValueError, match="timezone"):
        router.route_sql(Requirements(), funds=ALL_FUNDS, at=datetime(2025, 1, 1))
