"""Append-only prices: ``byokvault catalog validate --against REF``."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from catalog_kit import ACME, commit_all, init_repo, write_catalog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from byokvault.engine.catalog.history import validate_against
from byokvault.engine.catalog.load import load_catalog
from byokvault.engine.catalog.refs import RefError
from byokvault.engine.catalog.store import build
from byokvault.engine.cli import main

NEW_LATER_ROW = """\
      - dimension: input_tokens
        amount: 1.5
        effective_from: 2025-06-01T00:00:00Z
        provenance: {source: https://acme.test/pricing, recorded_at: 2025-06-01T00:00:00Z}
"""


def _with_alpha_row(text: str, row: str) -> str:
    """ACME with ``row`` appended to alpha's prices (before beta)."""
    return text.replace("  - id: beta\n", row + "  - id: beta\n")


def _repo_with_catalog(tmp_path: Path) -> Path:
    """A git repo whose catalog lives in a subdirectory, committed on main."""
    repo = tmp_path / "repo"
    init_repo(repo)
    catalog = write_catalog(repo / "data" / "catalog")
    commit_all(repo)
    return catalog


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["catalog", "validate", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_unchanged_and_appended_history_passes_against_git_ref(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = _repo_with_catalog(tmp_path)
    (catalog / "providers" / "acme.yaml").write_text(_with_alpha_row(ACME, NEW_LATER_ROW))
    code, out, err = _run(capsys, "--catalog", str(catalog), "--against", "main")
    assert (code, err) == (0, "")
    assert "all 3 price rows published at main are unchanged" in out


def test_rewritten_amount_is_refused_with_its_position(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = _repo_with_catalog(tmp_path)
    (catalog / "providers" / "acme.yaml").write_text(ACME.replace("amount: 1.25", "amount: 1.3"))
    code, _out, err = _run(capsys, "--catalog", str(catalog), "--against", "main")
    assert code == 2
    assert err == (
        "error: catalog/providers/acme.yaml:15:17: models.0.prices.0.amount: published price "
        "row rewritten: acme/alpha input_tokens effective_from 2025-01-01T00:00:00Z: amount 1.25 "
        "at main, now 1.3. Prices are append-only: restore the row and add a new one with a "
        "later effective_from\n"
    )


def test_rewritten_provenance_is_refused(tmp_path: Path, capsys) -> None:
    catalog = _repo_with_catalog(tmp_path)
    text = ACME.replace("recorded_at: 2025-02-01T00:00:00Z", "recorded_at: 2025-02-03T00:00:00Z")
    (catalog / "providers" / "acme.yaml").write_text(text)
    code, _out, err = _run(capsys, "--catalog", str(catalog), "--against", "main")
    assert code == 2
    assert err.startswith(
        "error: catalog/providers/acme.yaml:32:70: models.1.prices.0.provenance.recorded_at: "
        "published price row rewritten: acme/beta output_images "
        '{"image_quality":"hd","image_size":"1024x1024"} effective_from 2025-02-01T00:00:00Z: '
        "recorded_at 2025-02-01T00:00:00Z at main, now 2025-02-03T00:00:00Z."
    )


def test_removed_row_is_refused_at_the_model_prices(tmp_path: Path, capsys) -> None:
    catalog = _repo_with_catalog(tmp_path)
    output_row = ACME.split("      - dimension: output_tokens\n")[1].split("  - id: beta\n")[0]
    text = ACME.replace("      - dimension: output_tokens\n" + output_row, "")
    (catalog / "providers" / "acme.yaml").write_text(text)
    code, _out, err = _run(capsys, "--catalog", str(catalog), "--against", "main")
    assert code == 2
    assert err.startswith(
        "error: catalog/providers/acme.yaml:13:5: models.0.prices: published price row removed: "
        "acme/alpha output_tokens effective_from 2025-01-01T00:00:00Z (amount 10 USD at main)."
    )


def test_removed_provider_file_is_refused(tmp_path: Path, capsys) -> None:
    catalog = _repo_with_catalog(tmp_path)
    (catalog / "providers" / "acme.yaml").rename(catalog / "providers" / "other.yaml")
    text = ACME.replace("id: acme", "id: other")
    (catalog / "providers" / "other.yaml").write_text(text)
    code, _out, err = _run(capsys, "--catalog", str(catalog), "--against", "main")
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 3  # every published row of acme
    assert all(line.startswith("error: catalog/providers/acme.yaml:1:1: ") for line in lines)
    assert "(the provider file is gone)" in lines[0]


def test_backdated_row_is_refused(tmp_path: Path, capsys) -> None:
    catalog = _repo_with_catalog(tmp_path)
    backdated = NEW_LATER_ROW.replace("2025-06-01T00:00:00Z", "2024-12-01T00:00:00Z", 1)
    (catalog / "providers" / "acme.yaml").write_text(_with_alpha_row(ACME, backdated))
    code, _out, err = _run(capsys, "--catalog", str(catalog), "--against", "main")
    assert code == 2
    assert err == (
        "error: catalog/providers/acme.yaml:24:25: models.0.prices.2.effective_from: back-dated "
        "price row: acme/alpha input_tokens effective_from 2024-12-01T00:00:00Z is not after "
        "2025-01-01T00:00:00Z, the latest effective_from of this price series at main; a new "
        "price must take effect after every published one\n"
    )


def test_new_series_with_early_date_is_fine(tmp_path: Path, capsys) -> None:
    """Back-dating is about an existing series; a new tier may start whenever it started."""
    catalog = _repo_with_catalog(tmp_path)
    batch = NEW_LATER_ROW.replace("2025-06-01T00:00:00Z", "2020-01-01T00:00:00Z", 1).replace(
        "amount: 1.5\n", "amount: 0.6\n        conditions: {service_tier: batch}\n"
    )
    (catalog / "providers" / "acme.yaml").write_text(_with_alpha_row(ACME, batch))
    code, _out, err = _run(capsys, "--catalog", str(catalog), "--against", "main")
    assert (code, err) == (0, "")


def test_against_an_earlier_commit_and_a_tag(tmp_path: Path, capsys) -> None:
    catalog = _repo_with_catalog(tmp_path)
    repo = catalog.parent.parent
    (catalog / "providers" / "acme.yaml").write_text(_with_alpha_row(ACME, NEW_LATER_ROW))
    commit_all(repo, "new price")
    (catalog / "providers" / "acme.yaml").write_text(ACME)  # drops the row published at HEAD
    assert _run(capsys, "--catalog", str(catalog), "--against", "HEAD~1")[0] == 0
    code, _out, err = _run(capsys, "--catalog", str(catalog), "--against", "HEAD")
    assert code == 2
    assert "published price row removed: acme/alpha input_tokens effective_from 2025-06-01" in err


def test_against_a_snapshot_directory(tmp_path: Path) -> None:
    base = write_catalog(tmp_path / "base")
    _catalog, snapshot = build(base, tmp_path / "snaps")
    head = write_catalog(tmp_path / "head", {"acme": ACME.replace("amount: 10\n", "amount: 12\n")})
    published, problems = validate_against(load_catalog(head), str(snapshot.path))
    assert published == 3
    assert [p.field for p in problems] == ["models.0.prices.1.amount"]
    assert "amount 10 at" in problems[0].message and "now 12" in problems[0].message


def test_against_a_catalog_directory_and_bad_refs(tmp_path: Path) -> None:
    base = write_catalog(tmp_path / "base")
    head = load_catalog(write_catalog(tmp_path / "head"))
    assert validate_against(head, str(base)) == (3, [])
    with pytest.raises(RefError, match="not inside a git repository"):
        validate_against(head, "main")
    with pytest.raises(RefError, match="neither a catalog"):
        validate_against(head, str(tmp_path))


def test_unknown_ref_and_missing_path_at_ref(tmp_path: Path, capsys) -> None:
    catalog = _repo_with_catalog(tmp_path)
    code, _out, err = _run(capsys, "--catalog", str(catalog), "--against", "no-such-branch")
    assert code == 2 and "no-such-branch: not a directory, and not a git ref" in err
    moved = catalog.parent / "moved"
    shutil.copytree(catalog, moved)
    code, _out, err = _run(capsys, "--catalog", str(moved), "--against", "main")
    assert code == 2 and "the catalog path 'data/moved' does not exist at this ref" in err


# --- property: every mutation of a published row is refused --------------------------------

TIERS = ("standard", "batch")
DIMENSIONS = ("input_tokens", "output_tokens")
START = datetime(2025, 1, 1, tzinfo=UTC)

amounts = st.decimals(min_value=0, max_value=1000, places=4, allow_nan=False)
rows = st.lists(
    st.fixed_dictionaries(
        {
            "dimension": st.sampled_from(DIMENSIONS),
            "tier": st.sampled_from(TIERS),
            "day": st.integers(0, 30),
            "amount": amounts,
            "source": st.sampled_from(["https://acme.test/a", "https://acme.test/b"]),
            "recorded_day": st.integers(0, 60),
        }
    ),
    min_size=1,
    max_size=5,
    unique_by=lambda r: (r["dimension"], r["tier"], r["day"]),
)
MUTATIONS = ("amount", "currency", "effective_from", "conditions", "source", "recorded_at", "drop")


def _ts(day: int) -> str:
    return (START + timedelta(days=day)).isoformat().replace("+00:00", "Z")


def _provider_text(price_rows: list[dict]) -> str:
    lines = ACME.split("    prices:\n")[0].splitlines(keepends=True)
    out = [*lines, "    prices:\n"]
    for r in price_rows:
        out.append(f"      - dimension: {r['dimension']}\n")
        out.append(f"        amount: {r['amount']}\n")
        if "currency" in r:
            out.append(f"        currency: {r['currency']}\n")
        out.append(f"        effective_from: {_ts(r['day'])}\n")
        if r["tier"] != "standard":
            out.append(f"        conditions: {{service_tier: {r['tier']}}}\n")
        recorded = _ts(r["recorded_day"])
        out.append(f"        provenance: {{source: {r['source']}, recorded_at: {recorded}}}\n")
    return "".join(out)


def _mutate(row: dict, kind: str, amount: Decimal) -> dict | None:
    new = dict(row)
    if kind == "drop":
        return None
    if kind == "amount":
        new["amount"] = amount if amount != row["amount"] else row["amount"] + 1
    elif kind == "currency":
        new["currency"] = "EUR"
    elif kind == "effective_from":
        new["day"] = row["day"] + 100
    elif kind == "conditions":
        new["tier"] = "flex"
    elif kind == "source":
        new["source"] = row["source"] + "/changed"
    elif kind == "recorded_at":
        new["recorded_day"] = row["recorded_day"] + 1
    return new


def _problems(base_rows: list[dict], head_rows: list[dict], tmp: Path) -> list[str]:
    base = write_catalog(tmp / "base", {"acme": _provider_text(base_rows)})
    head = write_catalog(tmp / "head", {"acme": _provider_text(head_rows)})
    try:
        catalog = load_catalog(head)
    except Exception as exc:  # the mutated catalog does not even validate: refused too
        return [str(exc)]
    return [str(p) for p in validate_against(catalog, str(base))[1]]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows, st.data())
def test_every_mutation_of_a_published_row_is_refused(
    tmp_path: Path, base_rows: list[dict], data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(base_rows) - 1))
    kind = data.draw(st.sampled_from(MUTATIONS))
    mutated = _mutate(base_rows[index], kind, data.draw(amounts))
    head_rows = [*base_rows[:index], *([mutated] if mutated else []), *base_rows[index + 1 :]]
    assert _problems(base_rows, head_rows, tmp_path), (kind, base_rows[index])


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows, st.data())
def test_appending_later_rows_is_accepted(
    tmp_path: Path, base_rows: list[dict], data: st.DataObject
) -> None:
    extra = data.draw(st.lists(st.tuples(st.sampled_from(DIMENSIONS), amounts), max_size=3))
    later = [
        {
            "dimension": dim,
            "tier": "standard",
            "day": 40 + i,
            "amount": amount,
            "source": "https://acme.test/new",
            "recorded_day": 40 + i,
        }
        for i, (dim, amount) in enumerate(extra)
    ]
    assert _problems(base_rows, [*base_rows, *later], tmp_path) == []
