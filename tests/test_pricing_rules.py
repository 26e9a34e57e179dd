import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from byokvault.engine.catalog.model import CapabilityClass
from byokvault.engine.catalog.yamlio import InputError
from byokvault.engine.paths import BUNDLED_RULES
from byokvault.engine.pricing.rules import (
    MAX_MARGIN,
    MIN_MARGIN,
    apply_billing,
    load_rules,
)


def rules_dir(tmp_path: Path, margin: str | None = None, fees: str | None = None) -> Path:
    d = tmp_path / "rules"
    d.mkdir(parents=True)
    for name, text in (("margin.yaml", margin), ("fees.yaml", fees)):
        if text is None:
            shutil.copy(BUNDLED_RULES / name, d / name)
        else:
            (d / name).write_text(text)
    return d


MARGINS = "".join(f"  {c.value}: 1.5\n" for c in CapabilityClass)
ROUNDING = "rounding: {quantum: 0.000001, mode: half_even}\n"


def test_bundled_rules_are_valid_and_in_range() -> None:
    rules = load_rules()
    assert set(rules.margins) == {c.value for c in CapabilityClass}
    assert all(MIN_MARGIN <= f <= MAX_MARGIN for f in rules.margins.values())
    assert rules.version.startswith("rules_")


def test_margin_out_of_range_is_reported_at_its_line(tmp_path: Path) -> None:
    text = "margins:\n" + MARGINS.replace("  video: 1.5", "  video: 1.8") + ROUNDING
    with pytest.raises(InputError) as err:
        load_rules(rules_dir(tmp_path, margin=text))
    (problem,) = err.value.problems
    line = text.splitlines().index("  video: 1.8") + 1
    assert problem.file.endswith("margin.yaml") and problem.line == line
    assert problem.field == "margins.video" and "1.7" in problem.message


def test_missing_class_unknown_key_and_bad_fee_all_reported(tmp_path: Path) -> None:
    margin = "margins:\n" + MARGINS.replace("  search: 1.5\n", "") + ROUNDING
    fees = "byok: {percent: 0, per_call: 0}\nlocal: {per_call: -1}\nextra: 1\n"
    with pytest.raises(InputError) as err:
        load_rules(rules_dir(tmp_path, margin=margin, fees=fees))
    messages = "\n".join(str(p) for p in err.value.problems)
    assert "missing ['search']" in messages
    assert "extra: Extra inputs are not permitted" in messages
    assert "fees.yaml:2:" in messages and "local.per_call" in messages


def test_rounding_quantum_must_be_a_power_of_ten(tmp_path: Path) -> None:
    text = "margins:\n" + MARGINS + "rounding: {quantum: 0.05, mode: half_even}\n"
    with pytest.raises(InputError, match="power of ten"):
        load_rules(rules_dir(tmp_path, margin=text))


def test_version_follows_content(tmp_path: Path) -> None:
    a = load_rules(rules_dir(tmp_path / "a", margin="margins:\n" + MARGINS + ROUNDING))
    b = load_rules(rules_dir(tmp_path / "b", margin="margins:\n" + MARGINS + ROUNDING + "\n# c\n"))
    c = load_rules(
        rules_dir(tmp_path / "c", margin="margins:\n" + MARGINS.replace("1.5", "1.6", 1) + ROUNDING)
    )
    assert a.version == b.version != c.version


def test_fund_sources() -> None:
    rules = load_rules()
    raw = Decimal("0.0123456789")
    platform = apply_billing(raw, "image", "platform", rules)
    assert platform.billed_amount == raw * rules.margin_for("image")
    assert platform.gap == platform.billed_amount - raw
    byok = apply_billing(raw, "image", "byok", rules)
    fee = raw * rules.byok_fee.percent / 100 + rules.byok_fee.per_call
    assert byok.billed_amount == fee == byok.byok_fee and byok.margin_factor is None
    local = apply_billing(Decimal(0), "text", "local", rules)
    assert local.billed_amount == rules.local_fee.per_call and local.margin_factor is None
    with pytest.raises(ValueError, match="fund_source"):
        apply_billing(raw, "text", "tenant", rules)


@given(st.decimals(min_value=0, max_value=10**6, places=12), st.sampled_from(list(CapabilityClass)))
def test_rounding_is_recorded_and_within_half_a_quantum(raw: Decimal, cls) -> None:
    rules = load_rules()
    billed = apply_billing(raw, cls.value, "platform", rules)
    r = billed.rounding
    assert (r.mode, r.quantum) == (rules.rounding.mode, rules.rounding.quantum)
    assert abs(r.amount - billed.billed_amount) <= r.quantum / 2
    assert r.amount == r.amount.quantize(r.quantum)


def test_byok_fee_cannot_be_free(tmp_path: Path) -> None:
    fees = "byok: {percent: 0, per_call: 0}\nlocal: {per_call: 0}\n"
    with pytest.raises(InputError, match=r"fees.yaml:1:1: byok: .*percent or a per_call"):
        load_rules(rules_dir(tmp_path, fees=fees))
