"""YAML -> Parquet -> DuckDB round trip, deterministic builds, and the build cache."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from catalog_kit import ACME, UNITS, write_catalog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from byokvault.engine.catalog.history import catalog_rows
from byokvault.engine.catalog.load import load_catalog
from byokvault.engine.catalog.store import build, open_catalog
from byokvault.engine.catalog.yamlio import InputError

UNITS_WITH_VIDEO = (
    UNITS
    + """\
  - id: output_video_seconds
    quantity: seconds
    per: 1
    usage_key: output_video_seconds
    qualifiers: [video_resolution]
    description: Generated video seconds.
"""
)

# Every kind of condition, extreme amounts, a price history, a non-UTC offset.
GAMMA = """\
  - id: gamma
    name: Gamma
    mode: video_generation
    modalities: {input: [text, image], output: [video]}
    prices:
      - dimension: input_tokens
        amount: 0.000000000000000001
        effective_from: 2025-01-01T02:00:00+02:00
        conditions:
          long_context: {threshold: 200000, inclusive: true}
          service_tier: priority
          time_window: {start: '22:00', end: '06:00'}
          region: eu-west-1
        provenance: {source: importer:test, recorded_at: 2025-01-01T00:00:00.123456Z}
      - dimension: input_tokens
        amount: 12345678901234567890.123456789012345678
        effective_from: 2025-01-01T00:00:00Z
        provenance: {source: importer:test, recorded_at: 2025-01-01T00:00:00Z}
      - dimension: input_tokens
        amount: 1e-06
        effective_from: 2025-03-01T00:00:00Z
        provenance: {source: importer:test, recorded_at: 2025-03-01T00:00:00Z}
      - dimension: output_video_seconds
        amount: 0.5
        effective_from: 2025-01-01T00:00:00Z
        conditions: {video_resolution: 1080p, service_tier: batch}
        provenance: {source: importer:test, recorded_at: 2025-01-01T00:00:00Z}
"""

PRICE_SQL = """
SELECT price_id, provider_id, model_id, dimension, amount, currency, effective_from, effective_to,
       conditions_key, source, recorded_at, long_context_threshold, long_context_inclusive,
       service_tier, window_start, window_end, region, image_size, image_quality,
       video_resolution
FROM prices ORDER BY price_id
"""


def _rich_catalog(root: Path) -> Path:
    return write_catalog(root, {"acme": ACME + GAMMA}, units=UNITS_WITH_VIDEO)


def test_round_trip_yaml_parquet_duckdb_keeps_every_price_row(tmp_path: Path) -> None:
    catalog, con = open_catalog(_rich_catalog(tmp_path / "catalog"), tmp_path / "snaps")
    expected = catalog_rows(catalog)
    got = con.execute(PRICE_SQL).fetchall()
    assert [r[0] for r in got] == sorted(expected)
    for row in got:
        want = expected[row[0]]
        assert row[1:4] == (want.provider_id, want.model_id, want.dimension)
        assert type(row[4]) is Decimal and row[4] == want.amount  # exact, never a float
        assert row[5] == want.currency
        assert row[6] == want.effective_from and row[6].utcoffset() == timedelta(0)
        assert (row[8], row[9], row[10]) == (want.conditions_key, want.source, want.recorded_at)
    by_id = {r[0]: r for r in got}
    gamma = {(r[3], r[6].isoformat()): r for r in got if r[2] == "gamma"}
    tiny = gamma["input_tokens", "2025-01-01T00:00:00+00:00"]
    assert tiny[4] == Decimal("1E-18")
    assert tiny[11:17] == (200000, True, "priority", *tiny[14:16], "eu-west-1")
    assert (str(tiny[14]), str(tiny[15])) == ("22:00:00", "06:00:00")
    assert tiny[10] == datetime(2025, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)
    video = gamma["output_video_seconds", "2025-01-01T00:00:00+00:00"]
    assert (video[13], video[19]) == ("batch", "1080p")
    huge = [r for r in got if r[4] == Decimal("12345678901234567890.123456789012345678")]
    assert len(huge) == 1
    # The later row of the same series ends the earlier one; the last stays open.
    assert huge[0][7] == datetime(2025, 3, 1, tzinfo=UTC)
    assert by_id[max(expected, key=lambda i: expected[i].effective_from)][7] is None


def test_round_trip_models_and_capabilities(tmp_path: Path) -> None:
    catalog, con = open_catalog(_rich_catalog(tmp_path / "catalog"), tmp_path / "snaps")
    models = con.sql("select provider_id, model_id from models order by all").fetchall()
    assert models == [(p.id, m.id) for p, m in catalog.models()]
    caps = con.sql(
        "select capability from model_capabilities where model_id = 'alpha' order by 1"
    ).fetchall()
    assert [c for (c,) in caps] == ["text", "text.chat"]


def test_same_yaml_same_version_and_bytes_across_processes(tmp_path: Path) -> None:
    source = _rich_catalog(tmp_path / "catalog")
    _, first = build(source, tmp_path / "one")
    script = (
        "import sys; from pathlib import Path; from byokvault.engine.catalog.store import build; "
        "print(build(Path(sys.argv[1]), Path(sys.argv[2]))[1].version)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(source), str(tmp_path / "two")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == first.version
    _assert_identical(first.path, tmp_path / "two" / first.version)


def _assert_identical(a: Path, b: Path) -> None:
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    assert "prices.parquet" in names
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


# --- determinism, for any catalog -------------------------------------------------------------

START = datetime(2025, 1, 1, tzinfo=UTC)
price_rows = st.lists(
    st.tuples(
        st.sampled_from(["input_tokens", "output_tokens"]),
        st.sampled_from(["standard", "batch", "flex"]),
        st.integers(0, 400),
        st.decimals(min_value=0, max_value=10**6, places=9, allow_nan=False),
    ),
    max_size=6,
    unique_by=lambda r: r[:3],
)
models = st.lists(
    st.tuples(st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True), price_rows),
    min_size=1,
    max_size=4,
    unique_by=lambda m: m[0],
)


def _provider(model_list: list, flow: bool) -> str:
    lines = ACME.split("models:\n")[0].splitlines()
    lines.append("models:")
    for model_id, rows in sorted(model_list):
        lines += [f"  - id: {model_id}", f"    name: {model_id.upper()}", "    mode: chat"]
        lines.append("    modalities: {input: [text], output: [text]}")
        lines.append("    prices:" if rows else "    prices: []")
        for dimension, tier, day, amount in rows:
            when = (START + timedelta(days=day)).isoformat()
            prov = "{source: s, recorded_at: 2025-01-01T00:00:00Z}"
            if flow:  # the same content, written differently
                lines.append(
                    f"      - {{amount: {amount}, dimension: {dimension}, effective_from: {when},"
                    f" conditions: {{service_tier: {tier}}}, provenance: {prov}}}  # flow"
                )
            else:
                lines += [f"      - dimension: {dimension}", f"        amount: {amount}"]
                lines += [f"        effective_from: {when}", f"        provenance: {prov}"]
                if tier != "standard":
                    lines.append(f"        conditions: {{service_tier: {tier}}}")
    return "\n".join(lines) + "\n"


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(models)
def test_build_is_deterministic(tmp_path: Path, model_list: list) -> None:
    block = write_catalog(tmp_path / "a" / "catalog", {"acme": _provider(model_list, False)})
    flow = write_catalog(tmp_path / "b" / "catalog", {"acme": _provider(model_list, True)})
    _, one = build(block, tmp_path / "snaps-1")
    _, two = build(block, tmp_path / "snaps-2")
    _, three = build(flow, tmp_path / "snaps-3")
    assert one.version == two.version == three.version
    _assert_identical(one.path, two.path)
    _assert_identical(one.path, three.path)


def test_content_change_changes_version(tmp_path: Path) -> None:
    a = load_catalog(write_catalog(tmp_path / "a"))
    b = load_catalog(write_catalog(tmp_path / "b", {"acme": ACME.replace("1.25", "1.26")}))
    assert a.version != b.version


# --- the build cache ---------------------------------------------------------------------------


def test_unchanged_files_skip_validation(tmp_path: Path) -> None:
    source = write_catalog(tmp_path / "catalog")
    full, first = build(source, tmp_path / "snaps")
    cached, again = build(source, tmp_path / "snaps")
    assert again == first
    assert cached._providers is None  # not validated again
    assert cached.version == full.version
    assert cached.taxonomy.capabilities == full.taxonomy.capabilities
    assert cached.providers == full.providers  # loaded on first use


def test_changed_bytes_are_validated_again(tmp_path: Path) -> None:
    source = write_catalog(tmp_path / "catalog")
    _full, first = build(source, tmp_path / "snaps")
    path = source / "providers" / "acme.yaml"
    path.write_text("# a comment changes the bytes, not the content\n" + ACME)
    recheck, same = build(source, tmp_path / "snaps")
    assert recheck._providers is not None and same.version == first.version
    path.write_text(ACME.replace("amount: 1.25", "amount: -1"))
    with pytest.raises(InputError):
        build(source, tmp_path / "snaps")


def test_files_changed_after_a_cached_open_are_caught(tmp_path: Path) -> None:
    source = write_catalog(tmp_path / "catalog")
    build(source, tmp_path / "snaps")
    cached, _ = build(source, tmp_path / "snaps")
    (source / "providers" / "acme.yaml").write_text(ACME.replace("1.25", "1.5"))
    with pytest.raises(InputError, match="changed on disk since version"):
        _ = cached.providers
