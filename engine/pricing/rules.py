"""Declarative billing rules: ``rules/margin.yaml`` (a margin factor per capability class and the
rounding step) and ``rules/fees.yaml`` (the BYOK fee and the local per-call fee).

What each fund source pays, decided once here:

* ``platform`` — the platform's key pays the provider: ``billed = raw * margin(class)``.
* ``byok`` — the tenant's key pays the provider: the fee REPLACES the margin,
  ``billed = raw * percent / 100 + per_call``.
* ``local`` — the tenant's own machine answers: no provider is paid and no margin applies; the
  raw cost is the catalog's (an explicit 0 for local models) and ``billed = local.per_call``.

Every billed amount then goes through one recorded rounding step (quantum and mode from
margin.yaml); the unrounded amount is kept beside it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import (
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_UP,
    Decimal,
)
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..catalog.model import CapabilityClass
from ..catalog.yamlio import InputError, Problem, problems_from_validation, read_yaml, to_plain
from ..paths import BUNDLED_RULES
from .cost import EXACT, Breakdown

MARGIN_FILE = "margin.yaml"
FEES_FILE = "fees.yaml"
MIN_MARGIN, MAX_MARGIN = Decimal("1.3"), Decimal("1.7")
FUND_SOURCES = ("platform", "byok", "local")
ROUNDING_MODES = {
    "half_even": ROUND_HALF_EVEN,
    "half_up": ROUND_HALF_UP,
    "up": ROUND_UP,
    "down": ROUND_DOWN,
    "ceiling": ROUND_CEILING,
    "floor": ROUND_FLOOR,
}

Money = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RoundingRule(_Strict):
    quantum: Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]
    mode: Literal["half_even", "half_up", "up", "down", "ceiling", "floor"]

    @model_validator(mode="after")
    def _power_of_ten(self) -> RoundingRule:
        if self.quantum != Decimal(1).scaleb(self.quantum.adjusted()):
            raise ValueError("quantum must be a power of ten, e.g. 0.01 or 0.000001")
        return self


class MarginFile(_Strict):
    margins: dict[CapabilityClass, Annotated[Decimal, Field(ge=MIN_MARGIN, le=MAX_MARGIN)]]
    rounding: RoundingRule

    @model_validator(mode="after")
    def _every_class(self) -> MarginFile:
        missing = [c.value for c in CapabilityClass if c not in self.margins]
        if missing:
            raise ValueError(f"a margin is needed for every capability class; missing {missing}")
        return self


class ByokFee(_Strict):
    percent: Annotated[Decimal, Field(ge=0, le=100, allow_inf_nan=False)]
    per_call: Money

    @model_validator(mode="after")
    def _not_free(self) -> ByokFee:
        if self.percent == 0 and self.per_call == 0:
            raise ValueError("the BYOK fee needs a percent or a per_call amount (or both)")
        return self


class LocalFee(_Strict):
    per_call: Money


class FeesFile(_Strict):
    byok: ByokFee
    local: LocalFee


@dataclass(frozen=True)
class Rules:
    margins: dict[str, Decimal]
    byok_fee: ByokFee
    local_fee: LocalFee
    rounding: RoundingRule
    version: str

    def margin_for(self, capability_class: str) -> Decimal:
        try:
            return self.margins[capability_class]
        except KeyError:
            raise KeyError(f"no margin for capability class {capability_class!r}") from None


def load_rules(directory: Path | None = None) -> Rules:
    """Validate margin.yaml and fees.yaml in ``directory`` (default: the bundled rules/).
    Every problem in either file is reported at once, at file:line:column."""
    directory = directory or BUNDLED_RULES
    problems: list[Problem] = []
    margin, fees = None, None
    canonical: dict[str, Any] = {}
    for name, schema in ((MARGIN_FILE, MarginFile), (FEES_FILE, FeesFile)):
        path = directory / name
        try:
            doc = read_yaml(path, str(path))
        except InputError as exc:
            problems += exc.problems
            continue
        try:
            parsed = schema.model_validate(to_plain(doc) if isinstance(doc, dict) else doc)
        except ValidationError as exc:
            problems += problems_from_validation(exc, doc, str(path))
            continue
        canonical[name] = parsed.model_dump(mode="json")
        if name == MARGIN_FILE:
            margin = parsed
        else:
            fees = parsed
    if problems:
        raise InputError(problems)
    assert isinstance(margin, MarginFile) and isinstance(fees, FeesFile)
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return Rules(
        margins={c.value: f for c, f in margin.margins.items()},
        byok_fee=fees.byok,
        local_fee=fees.local,
        rounding=margin.rounding,
        version="rules_" + hashlib.sha256(text.encode()).hexdigest()[:16],
    )


@dataclass(frozen=True, slots=True)
class Rounding:
    """The recorded rounding step: ``amount`` is the billed amount rounded to ``quantum``."""

    amount: Decimal
    mode: str
    quantum: Decimal


@dataclass(frozen=True, slots=True)
class Terms:
    """The billing terms of one call, as numbers (a quote freezes them with its prices)."""

    rules_version: str
    fund_source: str
    capability_class: str
    margin_factor: Decimal | None  # platform calls
    fee_percent: Decimal | None  # byok calls
    per_call: Decimal  # byok and local calls (0 for platform)
    rounding_quantum: Decimal
    rounding_mode: str

    def marked(self, raw: Decimal) -> Decimal:
        """The part of the bill that scales with a raw amount (no per-call fee)."""
        if self.margin_factor is not None:
            return EXACT.multiply(raw, self.margin_factor)
        if self.fee_percent is not None:
            return EXACT.multiply(raw, EXACT.multiply(self.fee_percent, PERCENT))
        return Decimal(0)


PERCENT = Decimal("0.01")


def terms_for(rules: Rules, capability_class: str, fund_source: str) -> Terms:
    if fund_source not in FUND_SOURCES:
        raise ValueError(f"fund_source must be one of {FUND_SOURCES}, got {fund_source!r}")
    return Terms(
        rules_version=rules.version,
        fund_source=fund_source,
        capability_class=capability_class,
        margin_factor=rules.margin_for(capability_class) if fund_source == "platform" else None,
        fee_percent=rules.byok_fee.percent if fund_source == "byok" else None,
        per_call={"byok": rules.byok_fee.per_call, "local": rules.local_fee.per_call}.get(
            fund_source, Decimal(0)
        ),
        rounding_quantum=rules.rounding.quantum,
        rounding_mode=rules.rounding.mode,
    )


@dataclass(frozen=True, slots=True)
class Billed:
    raw: Decimal  # the provider cost (sum of line items), unrounded
    billed_amount: Decimal  # what the platform bills, unrounded
    rounding: Rounding
    fund_source: str
    capability_class: str
    rules_version: str
    margin_factor: Decimal | None = None  # platform calls
    fee_percent: Decimal | None = None  # byok calls
    fee_per_call: Decimal | None = None  # byok and local calls
    byok_fee: Decimal | None = None  # byok calls: the fee amount (= billed_amount)

    @property
    def gap(self) -> Decimal:
        """What the platform keeps beyond the provider cost (for BYOK and local: all of it)."""
        return self.billed_amount - (self.raw if self.fund_source == "platform" else 0)


def apply_terms(raw: Decimal, terms: Terms) -> Billed:
    billed = terms.marked(raw) + terms.per_call
    rounded = billed.quantize(terms.rounding_quantum, rounding=ROUNDING_MODES[terms.rounding_mode])
    return Billed(
        raw=raw,
        billed_amount=billed,
        rounding=Rounding(rounded, terms.rounding_mode, terms.rounding_quantum),
        fund_source=terms.fund_source,
        capability_class=terms.capability_class,
        rules_version=terms.rules_version,
        margin_factor=terms.margin_factor,
        fee_percent=terms.fee_percent,
        fee_per_call=terms.per_call if terms.fund_source != "platform" else None,
        byok_fee=billed if terms.fund_source == "byok" else None,
    )


def apply_billing(
    breakdown: Breakdown | Decimal, capability_class: str, fund_source: str, rules: Rules
) -> Billed:
    """The billed amount of a priced call: margin or fee applied once, then rounded (recorded)."""
    raw = breakdown if isinstance(breakdown, Decimal) else breakdown.total
    return apply_terms(raw, terms_for(rules, capability_class, fund_source))
