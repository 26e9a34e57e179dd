"""Reconciliation across sources: one id, declared priority, conflicts, history kept."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from byokvault.engine.importers.genai_prices import import_genai_prices
from byokvault.engine.importers.litellm import import_litellm
from byokvault.engine.importers.models_dev import import_models_dev
from byokvault.engine.importers.reconcile import merge
from byokvault.engine.importers.report import render_report
from byokvault.engine.importers.sources import load_sources

AT = datetime(2026, 11, 27, 4, 0, tzinfo=UTC)

GENAI = [
    {
        "id": "anthropic",
        "name": "Anthropic",
        "pricing_urls": [],
        "api_pattern": "https://api\\.anthropic\\.com",
        "models": [
            {
                "id": "claude-x",
                "name": "Claude X",
                "match": {"or": [{"equals": "claude-x"}, {"equals": "claude-x-20250101"}]},
                "prices": [
                    {"prices": {"input_mtok": 10, "output_mtok": 50}},
                    {
                        "constraint": {"start_date": "2026-01-01"},
                        "prices": {"input_mtok": 3, "output_mtok": 15},
                    },
                ],
            }
        ],
    }
]
LITELLM = {
    "claude-x-20250101": {
        "litellm_provider": "anthropic",
        "mode": "chat",
        "input_cost_per_token": "0.0000033",
        "output_cost_per_token": "0.000015",
        "input_cost_per_token_batches": "0.0000015",
        "supports_function_calling": True,
        "supports_vision": True,
    }
}
MODELS_DEV = {
    "anthropic": {
        "id": "anthropic",
        "name": "Anthropic",
        "models": {
            "claude-x": {
                "id": "claude-x",
                "name": "Claude X (models.dev)",
                "reasoning": True,
                "tool_call": True,
                "attachment": True,
                "cost": {"input": 3, "output": 16},
                "limit": {"context": 200000, "output": 64000},
                "modalities": {"input": ["text", "image"], "output": ["text"]},
            }
        },
    }
}


def _results():
    return [
        import_models_dev(MODELS_DEV, recorded_at=AT),
        import_litellm(LITELLM, recorded_at=AT),
        import_genai_prices(GENAI, recorded_at=AT),
    ]


def _model(outcome):
    (provider,) = outcome.providers.values()
    (model,) = provider.models
    return model


def test_one_canonical_model_with_aliases_and_union_of_facts() -> None:
    outcome = merge({}, _results(), load_sources(), AT)
    model = _model(outcome)
    assert model.id == "claude-x"
    assert "claude-x-20250101" in model.aliases
    assert {"reasoning", "tools.function_calling", "vision.single_image", "batch"} <= set(
        model.capabilities
    )
    assert model.limits.context_window == 200000
    assert outcome.stats.merged_models == 1


def test_priority_decides_and_history_is_kept() -> None:
    outcome = merge({}, _results(), load_sources(), AT)
    model = _model(outcome)
    cite = load_sources().cite
    inputs = [
        (r.effective_from.year, r.amount, r.provenance.source)
        for r in model.prices
        if r.dimension == "input_tokens" and r.conditions.key() == {}
    ]
    # genai-prices wins (dated history kept), LiteLLM's batch series fills a gap
    genai = cite("genai-prices")
    assert inputs == [(1970, Decimal(10), genai), (2026, Decimal(3), genai)]
    batch = [r for r in model.prices if r.conditions.service_tier.value == "batch"]
    assert [(r.amount, r.provenance.source) for r in batch] == [(Decimal("1.5"), cite("litellm"))]


def test_conflicts_name_sources_values_and_difference() -> None:
    outcome = merge({}, _results(), load_sources(), AT)
    found = {
        (c.dimension, c.winner, c.other): (c.winner_amount, c.other_amount, c.pct)
        for c in outcome.conflicts
    }
    assert found[("input_tokens", "genai-prices", "litellm")] == (
        Decimal(3),
        Decimal("3.3"),
        Decimal("10.0"),
    )
    assert found[("output_tokens", "genai-prices", "models-dev")][2] == Decimal("6.7")
    assert ("output_tokens", "genai-prices", "litellm") not in found  # equal: no conflict
    report = render_report(outcome)
    assert (
        "| anthropic | claude-x | input_tokens |  | genai-prices | 3 | litellm | 3.3 | +10.0% |"
        in report
    )


def test_order_of_runs_does_not_matter() -> None:
    forward = merge({}, _results(), load_sources(), AT)
    backward = merge({}, list(reversed(_results())), load_sources(), AT)
    assert _model(forward) == _model(backward)


def test_declared_priority_is_what_decides() -> None:
    config = load_sources().model_copy(
        update={"priority": ["curated", "litellm", "genai-prices", "models-dev"]}
    )
    config.__dict__.pop("rank", None)
    model = _model(merge({}, _results(), config, AT))
    current = [
        r for r in model.prices if r.dimension == "input_tokens" and r.conditions.key() == {}
    ]
    assert [(r.amount, r.provenance.source) for r in current] == [
        (Decimal("3.3"), config.cite("litellm"))
    ]
