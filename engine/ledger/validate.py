"""Refuse a BillingRecord that could bill wrongly: unpriced usage, arithmetic that does not add
up, money that is not Decimal or does not fit the stored scale, naive timestamps. Every problem
names its field, so a caller can fix the payload; nothing is written until it is clean."""

from __future__ import annotations

from datetime import datetime
from decimal import Context, Decimal, InvalidOperation
from itertools import repeat

from .record import BillingRecord, FundSource, Kind, PricedLine
from .rows import money_text

# The stored scale: DECIMAL(38, 24) leaves 14 integer digits and 24 fractional ones.
SCALE = 24
_QUANTUM = Decimal(1).scaleb(-SCALE)
MAX_TEXT = 256


class RecordError(ValueError):
    """A payload that cannot be recorded; ``problems`` is a list of (field, message)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{field}: {message}" for field, message in problems))


def validate(record: BillingRecord) -> list[str] | None:
    """Raise RecordError listing every problem in ``record``. A record the fast path accepts
    (the common case) comes back with its money as canonical text, in ``money_values`` order,
    for the one-pass encoder (batch.py); any other valid record returns None."""
    money = _fast(record)
    if money is not None:
        return money
    problems = problems_of(record)
    if problems:
        raise RecordError(problems)
    return None


def problems_of(record: BillingRecord) -> list[tuple[str, str]]:
    """Every (field, message) that stops ``record`` from being recorded (the full checks)."""
    problems: list[tuple[str, str]] = []
    _check_texts(record, problems)
    _check_times(record, problems)
    _check_money_types(record, problems)
    if not problems:  # arithmetic only makes sense on well-typed values
        _check_pricing(record, problems)
        _check_kind(record, problems)
    return problems


# ---- the fast path: one pass of plain checks, no problem list ------------------------------
# ``_fast`` is only ever more strict than the full checks below (tests/test_ledger_validate.py
# checks that for generated records): when it says no, the full checks run and name the
# problems (or accept a record the fast path was unsure of). It also refuses text that JSON
# must escape (a '"' or '\'), so what it accepts the one-pass encoder can write as is.

_CONTEXT = Context(prec=80)  # quantize never overflows at this precision: an exact check
_ONLY_STR, _ONLY_DECIMAL, _ONLY_INT, _ONLY_DATETIME = {str}, {Decimal}, {int}, {datetime}
_ZERO = Decimal(0)
_FITS_38 = Context(prec=38, traps=[InvalidOperation]).quantize  # DECIMAL(38, 24) at 24 places


def money_values(record: BillingRecord) -> list:
    """Every money value of ``record`` in the order the one-pass encoder reads them: billed,
    raw, rounded, quantum; per line amount, quantity, unit price; per usage its quantity; then
    the BYOK fee and the margin factor, each only when set."""
    pricing, rounding = record.pricing, record.pricing.rounding
    values = [pricing.billed_amount, pricing.raw_cost, rounding.amount, rounding.quantum]
    for line in pricing.lines:
        values += (line.amount, line.quantity, line.unit_price)
    values += [u.quantity for u in record.usage]
    if pricing.byok_fee is not None:
        values.append(pricing.byok_fee)
    if pricing.margin_factor is not None:
        values.append(pricing.margin_factor)
    return values


def _texts_ok(texts: list) -> bool:
    """Each a non-empty printable str of at most MAX_TEXT characters, none with a '"' or a
    '\\' (C-level loops)."""
    if set(map(type, texts)) != _ONLY_STR:
        return False
    joined = "".join(texts)
    return (
        "" not in texts
        and max(map(len, texts)) <= MAX_TEXT
        and joined.isprintable()
        and '"' not in joined
        and "\\" not in joined
    )


def _money_texts(values: list) -> list[str] | None:
    """Each a finite Decimal that DECIMAL(38, 24) holds exactly, as its canonical text; None if
    one is not. Quantizing to 24 places in a 38-digit context signals (InvalidOperation) for
    NaN, infinities and anything of more than 14 integer digits, and changes a value of more
    than 24 places. A value quantized to 24 places prints as its canonical text (``str``),
    except zero and values under 1e-6, which print with an exponent: those are formatted."""
    if set(map(type, values)) != _ONLY_DECIMAL:
        return None
    try:
        quantized = list(map(_FITS_38, values, repeat(_QUANTUM, len(values))))
    except InvalidOperation:
        return None
    if quantized != values:  # (a quiet NaN too: it equals nothing)
        return None
    texts = list(map(str, quantized))
    if "E" in "".join(texts):
        texts = [money_text(v) if "E" in t else t for v, t in zip(values, texts, strict=True)]
    return texts


def _stamps_ok(stamps: list) -> bool:
    """Each a timezone-aware datetime (exactly: a subclass goes to the full checks)."""
    return set(map(type, stamps)) == _ONLY_DATETIME and None not in map(datetime.utcoffset, stamps)


def _clean(record: BillingRecord) -> bool:
    """True if ``record`` certainly passes every check (the fast path's verdict)."""
    return _fast(record) is not None


def _fast(record: BillingRecord) -> list[str] | None:
    """The money texts of a record that certainly passes every check, in a few µs; None if
    unsure."""
    pricing, rounding = record.pricing, record.pricing.rounding
    lines, usage = pricing.lines, record.usage
    if not (
        record.kind is Kind.charge
        and record.reverses is None
        and isinstance(record.fund_source, FundSource)
        and lines
    ):
        return None
    texts = [
        record.tenant_id,
        record.call_id,
        record.idempotency_key,
        record.provider_id,
        record.model_id,
        record.capability_class,
        record.tier,
        pricing.currency,
        pricing.catalog_version,
        pricing.rules_version,
        rounding.mode,
    ]
    for text in (record.credential_id, record.credential_resolution_id, record.quote_id):
        if text is not None:
            texts.append(text)
    if record.reason is not None:
        texts.append(record.reason)
    stamps, pers = [record.occurred_at], []
    for line in lines:  # (plain loops: a comprehension is a function call in Python 3.11)
        texts += (line.dimension, line.price_id)
        stamps.append(line.effective_from)
        pers.append(line.per)
    for u in usage:
        texts.append(u.dimension)
    if not (
        _stamps_ok(stamps)
        and _texts_ok(texts)
        and set(map(type, pers)) == _ONLY_INT
        and min(pers) > 0
    ):
        return None
    values = money_values(record)
    money = _money_texts(values)
    # A charge has no negative amount; no unit price, quantum or margin factor is negative
    # either (the full checks allow a negative margin factor: that case goes to them).
    if money is None or min(values) < 0:
        return None
    priced: dict[str, Decimal] = {}
    for line in lines:
        if line.amount * line.per != line.quantity * line.unit_price:
            return None
        priced[line.dimension] = priced.get(line.dimension, _ZERO) + line.quantity
    for u in usage:  # each used dimension once, and priced for exactly its quantity
        if priced.pop(u.dimension, None) != u.quantity:
            return None
    quantum = rounding.quantum
    clean = (
        not priced  # no priced dimension without usage
        and quantum > 0
        and sum((line.amount for line in lines), _ZERO) == pricing.raw_cost
        and _CONTEXT.remainder(rounding.amount, quantum) == 0
        and abs(rounding.amount - pricing.billed_amount) < quantum
        and (record.fund_source is not FundSource.platform or pricing.margin_factor is not None)
        and (record.fund_source is not FundSource.byok or pricing.byok_fee is not None)
    )
    return money if clean else None


# ---- the full checks, naming every problem ----------------------------------------------

_REQUIRED_TEXT = (
    "tenant_id",
    "call_id",
    "idempotency_key",
    "provider_id",
    "model_id",
    "capability_class",
    "tier",
)
_OPTIONAL_TEXT = ("credential_id", "credential_resolution_id", "quote_id", "reverses", "reason")
_PRICING_TEXT = ("currency", "catalog_version", "rules_version")


def _text_problem(value: object, required: bool) -> str | None:
    if value is None:
        return "is required" if required else None
    if value.__class__ is not str or not value:
        return "must be a non-empty string"
    if len(value) > MAX_TEXT or not value.isprintable():  # type: ignore[attr-defined]
        return f"must be at most {MAX_TEXT} printable characters"
    return None


def _check_texts(record: BillingRecord, problems: list[tuple[str, str]]) -> None:
    pricing = record.pricing
    texts = [(name, getattr(record, name), True) for name in _REQUIRED_TEXT]
    texts += [(name, getattr(record, name), False) for name in _OPTIONAL_TEXT]
    texts += [(f"pricing.{name}", getattr(pricing, name), True) for name in _PRICING_TEXT]
    texts.append(("pricing.rounding.mode", pricing.rounding.mode, True))
    for i, line in enumerate(pricing.lines):
        texts.append((f"pricing.lines.{i}.dimension", line.dimension, True))
        texts.append((f"pricing.lines.{i}.price_id", line.price_id, True))
    texts += [(f"usage.{i}.dimension", u.dimension, True) for i, u in enumerate(record.usage)]
    for field, value, required in texts:
        problem = _text_problem(value, required)
        if problem is not None:
            problems.append((field, problem))
    if not isinstance(record.fund_source, FundSource):
        problems.append(("fund_source", "must be one of byok, platform, local"))


def _check_times(record: BillingRecord, problems: list[tuple[str, str]]) -> None:
    stamps = [("occurred_at", record.occurred_at)]
    stamps += [
        (f"pricing.lines.{i}.effective_from", line.effective_from)
        for i, line in enumerate(record.pricing.lines)
    ]
    for field, value in stamps:
        if not isinstance(value, datetime) or value.utcoffset() is None:
            problems.append((field, "must be a timezone-aware datetime"))


def _money_fields(record: BillingRecord) -> list[tuple[str, object, bool]]:
    """(field, value, required) for every Decimal in the record."""
    pricing = record.pricing
    fields: list[tuple[str, object, bool]] = [
        ("pricing.raw_cost", pricing.raw_cost, True),
        ("pricing.billed_amount", pricing.billed_amount, True),
        ("pricing.margin_factor", pricing.margin_factor, False),
        ("pricing.byok_fee", pricing.byok_fee, False),
        ("pricing.rounding.amount", pricing.rounding.amount, True),
        ("pricing.rounding.quantum", pricing.rounding.quantum, True),
    ]
    for i, line in enumerate(pricing.lines):
        fields.append((f"pricing.lines.{i}.unit_price", line.unit_price, True))
        fields.append((f"pricing.lines.{i}.quantity", line.quantity, True))
        fields.append((f"pricing.lines.{i}.amount", line.amount, True))
    fields += [(f"usage.{i}.quantity", u.quantity, True) for i, u in enumerate(record.usage)]
    return fields


_FITS: set[Decimal] = set()  # values already known to fit (prices, factors, counts repeat)


def _money_problem(value: object) -> str | None:
    if value.__class__ is Decimal and value.is_finite() and value in _FITS:  # type: ignore[attr-defined]
        return None
    problem = _money_shape(value)
    if problem is None and len(_FITS) < 50_000:
        _FITS.add(value)  # type: ignore[arg-type]
    return problem


def _money_shape(value: object) -> str | None:
    if value.__class__ is not Decimal:
        return f"must be a Decimal, not {type(value).__name__}"
    if not value.is_finite():  # type: ignore[attr-defined]
        return "must be a finite number"
    if value and value.adjusted() >= 38 - SCALE:  # type: ignore[attr-defined]
        return f"does not fit DECIMAL(38, {SCALE}): too large"
    if value.as_tuple().exponent < -SCALE and value != value.quantize(_QUANTUM):  # type: ignore[attr-defined,operator]
        return f"does not fit DECIMAL(38, {SCALE}): more than {SCALE} decimal places"
    return None


def _check_money_types(record: BillingRecord, problems: list[tuple[str, str]]) -> None:
    for field, value, required in _money_fields(record):
        if value is None and not required:
            continue
        problem = _money_problem(value)
        if problem is not None:
            problems.append((field, problem))
    for i, line in enumerate(record.pricing.lines):
        if line.per.__class__ is not int or line.per <= 0:
            problems.append((f"pricing.lines.{i}.per", "must be a positive integer"))


def _check_pricing(record: BillingRecord, problems: list[tuple[str, str]]) -> None:
    pricing = record.pricing
    if not pricing.lines:
        problems.append(("pricing.lines", "a record prices at least one dimension"))
    for i, line in enumerate(pricing.lines):
        problems += _check_line(i, line)
    if pricing.raw_cost != sum((line.amount for line in pricing.lines), Decimal(0)):
        problems.append(("pricing.raw_cost", "must equal the sum of the line amounts"))
    _check_usage_priced(record, problems)
    rounding = pricing.rounding
    if rounding.quantum <= 0:
        problems.append(("pricing.rounding.quantum", "must be positive"))
    elif _CONTEXT.remainder(rounding.amount, rounding.quantum) != 0:  # never overflows
        problems.append(("pricing.rounding.amount", "must be a multiple of the quantum"))
    elif abs(rounding.amount - pricing.billed_amount) >= rounding.quantum:
        problems.append(("pricing.rounding.amount", "must be billed_amount rounded to quantum"))
    if record.fund_source is FundSource.platform and pricing.margin_factor is None:
        problems.append(("pricing.margin_factor", "is required for a platform-funded call"))
    if record.fund_source is FundSource.byok and pricing.byok_fee is None:
        problems.append(("pricing.byok_fee", "is required for a BYOK call"))


def _check_line(i: int, line: PricedLine) -> list[tuple[str, str]]:
    problems = []
    if line.unit_price < 0:
        problems.append((f"pricing.lines.{i}.unit_price", "must not be negative"))
    if line.amount * line.per != line.quantity * line.unit_price:
        problems.append((f"pricing.lines.{i}.amount", "must equal quantity * unit_price / per"))
    return problems


def _check_usage_priced(record: BillingRecord, problems: list[tuple[str, str]]) -> None:
    """Every used dimension is priced, and the lines price exactly the usage (fail closed)."""
    priced: dict[str, Decimal] = {}
    for line in record.pricing.lines:
        priced[line.dimension] = priced.get(line.dimension, Decimal(0)) + line.quantity
    used = {u.dimension: u.quantity for u in record.usage}
    if len(used) != len(record.usage):
        problems.append(("usage", "lists a dimension twice"))
    for dimension in sorted(used.keys() | priced.keys()):
        if used.get(dimension, Decimal(0)) != priced.get(dimension, Decimal(0)):
            problems.append(
                (f"usage.{dimension}", "the priced lines must cover exactly the usage quantity")
            )


def _check_kind(record: BillingRecord, problems: list[tuple[str, str]]) -> None:
    amounts = [(f, v) for f, v, _ in _money_fields(record) if v is not None]
    amounts = [(f, v) for f, v in amounts if not f.endswith(("unit_price", "quantum", "factor"))]
    if record.kind is Kind.charge:
        if record.reverses is not None:
            problems.append(("reverses", "only a reversal references another record"))
        problems += [(f, "must not be negative on a charge") for f, v in amounts if v < 0]
    elif record.kind is Kind.reversal:
        if record.reverses is None:
            problems.append(("reverses", "a reversal names the record it corrects"))
        if record.reason is None:
            problems.append(("reason", "a reversal says why"))
        problems += [(f, "must not be positive on a reversal") for f, v in amounts if v > 0]
    else:
        problems.append(("kind", "must be charge or reversal"))
