"""One test per kind of catalog error: the exact file:line:column message, and nothing loaded."""

from __future__ import annotations

from pathlib import Path

import pytest
from catalog_kit import ACME, CAPABILITIES, UNITS, write_catalog

from byokvault.engine.catalog.load import load_catalog
from byokvault.engine.catalog.store import build
from byokvault.engine.catalog.yamlio import InputError
from byokvault.engine.cli import main

P = "catalog/providers/acme.yaml"
ROW = "        provenance: {source: https://acme.test/pricing, recorded_at: 2025-01-02T00:00:00Z}\n"

# (kind, (old, new) replaced once in ACME, expected messages)
PROVIDER_CASES = [
    (
        "yaml syntax",
        ("auth: {scheme: bearer}", "auth: {scheme: bearer"),
        [f"{P}:7:7: YAML syntax: while parsing a flow mapping expected ',' or '}}', but got ':'"],
    ),
    (
        "duplicate yaml key",
        ("    name: Alpha\n", "    name: Alpha\n    name: Alpha2\n"),
        [
            f"{P}:10:5: YAML syntax: while constructing a mapping found duplicate "
            'key "name" with value "Alpha2" (original value: "Alpha")'
        ],
    ),
    (
        "extra key",
        ("    name: Alpha\n", "    name: Alpha\n    colour: red\n"),
        [f"{P}:10:13: models.0.colour: Extra inputs are not permitted"],
    ),
    (
        "missing field",
        ("    name: Alpha\n", ""),
        [f"{P}:8:5: models.0.name: Field required"],
    ),
    (
        "wrong type",
        ("amount: 1.25", "amount: cheap"),
        [f"{P}:15:17: models.0.prices.0.amount: Input should be a valid decimal"],
    ),
    (
        "wrong type for an integer",
        (
            "    capabilities: [text.chat]\n",
            "    capabilities: [text.chat]\n    limits: {context_window: 1.5}\n",
        ),
        [
            f"{P}:13:30: models.0.limits.context_window: "
            "Input should be a valid integer, got a number with a fractional part"
        ],
    ),
    (
        "negative amount",
        ("amount: 1.25", "amount: -1"),
        [f"{P}:15:17: models.0.prices.0.amount: Input should be greater than or equal to 0"],
    ),
    (
        "amount beyond 18 decimal places",
        ("amount: 1.25", "amount: 0.0000000000000000001"),
        [
            f"{P}:15:17: models.0.prices.0.amount: Value error, amount has more "
            "than 18 decimal places"
        ],
    ),
    (
        "infinite amount",
        ("amount: 1.25", "amount: .inf"),
        [f"{P}:15:17: models.0.prices.0.amount: Input should be a finite number"],
    ),
    (
        "naive timestamp",
        ("effective_from: 2025-01-01T00:00:00Z", "effective_from: 2025-01-01T00:00:00"),
        [
            f"{P}:16:25: models.0.prices.0.effective_from: Value error, timestamp must carry a "
            "timezone, e.g. 2025-01-01T00:00:00Z"
        ],
    ),
    (
        "bad enum",
        ("mode: chat", "mode: chatty"),
        [
            f"{P}:10:11: models.0.mode: Input should be 'chat', 'completion', 'responses', "
            "'embedding', 'image_generation', 'image_edit', 'video_generation', "
            "'audio_transcription', 'audio_speech', 'realtime', 'rerank', 'moderation' or 'ocr'"
        ],
    ),
    (
        "unknown dimension",
        ("dimension: input_tokens", "dimension: inptu_tokens"),
        [
            f"{P}:14:20: models.0.prices.0.dimension: unknown dimension "
            "'inptu_tokens' (see units.yaml)"
        ],
    ),
    (
        "unknown capability",
        ("capabilities: [text.chat]", "capabilities: [text.chatt]"),
        [
            f"{P}:12:20: models.0.capabilities.0: unknown capability 'text.chatt' "
            "(see capabilities.yaml)"
        ],
    ),
    (
        "unsorted models",
        ("  - id: alpha\n", "  - id: zeta\n"),
        [f"{P}:22:9: models.1.id: models not sorted: 'beta' comes after 'zeta'"],
    ),
    (
        "duplicate model",
        ("  - id: beta\n", "  - id: alpha\n"),
        [f"{P}:22:9: models.1.id: duplicate model id: 'alpha' comes after 'alpha'"],
    ),
    (
        "alias naming another model",
        ("    name: Alpha\n", "    name: Alpha\n    aliases: [beta]\n"),
        [f"{P}:10:15: models.0.aliases.0: alias 'beta' already names model 'beta'"],
    ),
    (
        "duplicate price row",
        ("dimension: output_tokens", "dimension: input_tokens"),
        [
            f"{P}:20:25: models.0.prices.1.effective_from: duplicate price row: same dimension, "
            "conditions and effective_from"
        ],
    ),
    (
        "qualifier on the wrong dimension",
        (
            "        amount: 1.25\n",
            "        amount: 1.25\n        conditions: {image_size: 1024x1024}\n",
        ),
        [
            f"{P}:16:34: models.0.prices.0.conditions.image_size: dimension 'input_tokens' is "
            "not priced by image_size"
        ],
    ),
    (
        "empty time window",
        (
            "        amount: 1.25\n",
            "        amount: 1.25\n        conditions: {time_window: {start: "
            "'10:00', end: '10:00'}}\n",
        ),
        [
            f"{P}:16:22: models.0.prices.0.conditions.time_window: Value error, time window "
            "start and end are equal: the window would be empty"
        ],
    ),
    (
        "long-context tier without inclusivity",
        (
            "        amount: 1.25\n",
            "        amount: 1.25\n        conditions: {long_context: {threshold: 200000}}\n",
        ),
        [f"{P}:16:22: models.0.prices.0.conditions.long_context.inclusive: Field required"],
    ),
    (
        "provider id differs from the file name",
        ("id: acme\n", "id: acme-corp\n"),
        [f"{P}:1:5: id: provider id must match file name 'acme'"],
    ),
    (
        "lifecycle out of order",
        (
            "    name: Beta\n",
            "    name: Beta\n    lifecycle: {released: 2025-05-01, deprecated: 2025-01-01}\n",
        ),
        [f"{P}:24:5: models.1.lifecycle: Value error, deprecated is before released"],
    ),
]


@pytest.mark.parametrize(
    ("kind", "edit", "expected"), PROVIDER_CASES, ids=[c[0] for c in PROVIDER_CASES]
)
def test_provider_file_error(
    tmp_path: Path, kind: str, edit: tuple[str, str], expected: list[str]
) -> None:
    old, new = edit
    assert old in ACME, kind
    catalog = write_catalog(tmp_path / "catalog", {"acme": ACME.replace(old, new, 1)})
    with pytest.raises(InputError) as caught:
        load_catalog(catalog)
    assert [str(p) for p in caught.value.problems] == expected


REGISTRY_CASES = [
    (
        "parent capability missing",
        "capabilities.yaml",
        (
            "  - id: vision.single_image\n",
            "  - id: vision.nested.deep\n    description: x\n  - id: vision.single_image\n",
        ),
        [
            "catalog/capabilities.yaml:20:9: capabilities.6.id: parent "
            "'vision.nested' is not defined"
        ],
    ),
    (
        "root capability without class",
        "capabilities.yaml",
        ("    class: vision\n", ""),
        ["catalog/capabilities.yaml:14:5: capabilities.4: a root capability needs a class"],
    ),
    (
        "implied capability unknown",
        "capabilities.yaml",
        ("implies: [vision.single_image]", "implies: [vision.single]"),
        [
            "catalog/capabilities.yaml:19:15: capabilities.5.implies.0: unknown "
            "capability 'vision.single'"
        ],
    ),
    (
        "capabilities unsorted",
        "capabilities.yaml",
        (
            "  - id: image.generation\n",
            "  - id: zz\n    class: text\n    description: z\n  - id: image.generation\n",
        ),
        [
            "catalog/capabilities.yaml:9:9: capabilities.2.id: capabilities not "
            "sorted: 'image.generation' comes after 'zz'"
        ],
    ),
    (
        "unknown capability class",
        "capabilities.yaml",
        ("    class: image\n", "    class: pictures\n"),
        [
            "catalog/capabilities.yaml:4:12: capabilities.0.class: Input should be 'text', "
            "'vision', 'image', 'video', 'audio', 'realtime', 'embedding' or 'search'"
        ],
    ),
    (
        "duplicate unit",
        "units.yaml",
        ("  - id: output_tokens\n", "  - id: input_tokens\n"),
        ["catalog/units.yaml:13:9: units.2.id: duplicate unit 'input_tokens'"],
    ),
    (
        "unknown qualifier",
        "units.yaml",
        ("qualifiers: [image_size, image_quality]", "qualifiers: [image_size, colour]"),
        [
            "catalog/units.yaml:11:30: units.1.qualifiers.1: Input should be 'image_size', "
            "'image_quality' or 'video_resolution'"
        ],
    ),
    (
        "zero denomination",
        "units.yaml",
        ("    per: 1\n", "    per: 0\n"),
        ["catalog/units.yaml:9:10: units.1.per: Input should be greater than 0"],
    ),
]


@pytest.mark.parametrize(
    ("kind", "file", "edit", "expected"), REGISTRY_CASES, ids=[c[0] for c in REGISTRY_CASES]
)
def test_registry_file_error(
    tmp_path: Path, kind: str, file: str, edit: tuple[str, str], expected: list[str]
) -> None:
    old, new = edit
    texts = {"units.yaml": UNITS, "capabilities.yaml": CAPABILITIES}
    assert old in texts[file], kind
    texts[file] = texts[file].replace(old, new, 1)
    catalog = write_catalog(
        tmp_path / "catalog", units=texts["units.yaml"], capabilities=texts["capabilities.yaml"]
    )
    with pytest.raises(InputError) as caught:
        load_catalog(catalog)
    assert [str(p) for p in caught.value.problems] == expected


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path / "catalog", {"acme": "- just\n- a list\n"})
    with pytest.raises(InputError) as caught:
        load_catalog(catalog)
    assert [str(p) for p in caught.value.problems] == [
        f"{P}:1:1: the file must hold a mapping at the top level"
    ]


def test_problems_of_every_file_are_reported_together(tmp_path: Path) -> None:
    other = ACME.replace("id: acme\n", "id: other\n").replace("amount: 10\n", "amount: -10\n")
    catalog = write_catalog(
        tmp_path / "catalog",
        {"acme": ACME.replace("mode: chat", "mode: chatty"), "other": other},
        units=UNITS.replace("    per: 1\n", "    per: 0\n"),
    )
    with pytest.raises(InputError) as caught:
        load_catalog(catalog)
    files = [p.file for p in caught.value.problems]
    assert files == ["catalog/units.yaml", P, "catalog/providers/other.yaml"]


def test_a_broken_file_loads_and_builds_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = ACME.replace("id: acme\n", "id: good\n")
    catalog = write_catalog(
        tmp_path / "catalog", {"acme": ACME.replace("amount: 1.25", "amount: -1"), "good": good}
    )
    out = tmp_path / "snaps"
    with pytest.raises(InputError):
        build(catalog, out)
    assert not out.exists() or list(out.iterdir()) == []
    code = main(["catalog", "build", "--catalog", str(catalog), "--out", str(out)])
    assert code == 2
    assert capsys.readouterr().err == (
        f"error: {P}:15:17: models.0.prices.0.amount: Input should be greater than or equal to 0\n"
    )
    assert not out.exists() or list(out.iterdir()) == []
