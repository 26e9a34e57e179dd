"""Load a catalog directory: parse every file, validate each strictly, then check the rules that
span files (registries, sort order, duplicates). All problems are collected and raised together;
a catalog with any problem loads nothing."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .model import (
    Capability,
    CapabilityClass,
    CapabilityTaxonomy,
    Model,
    Provider,
    Unit,
    UnitRegistry,
)
from .yamlio import InputError, Problem, problem_at, problems_from_validation, read_yaml, to_plain

UNITS_FILE = "units.yaml"
CAPABILITIES_FILE = "capabilities.yaml"
PROVIDERS_DIR = "providers"


@dataclass(frozen=True)
class Taxonomy:
    """The capability tree with classes resolved and implications closed."""

    capabilities: dict[str, Capability]

    @cached_property
    def classes(self) -> dict[str, CapabilityClass]:
        out: dict[str, CapabilityClass] = {}
        for cap_id in sorted(self.capabilities):  # parents sort before children
            cap = self.capabilities[cap_id]
            parent = cap_id.rpartition(".")[0]
            resolved = cap.class_ or out.get(parent)
            if resolved is not None:
                out[cap_id] = resolved
        return out

    @cached_property
    def aliases(self) -> dict[str, tuple[str, ...]]:
        """Human word (lower case) → the capabilities it stands for."""
        out: dict[str, list[str]] = {}
        for cap in self.capabilities.values():
            for alias in cap.aliases:
                out.setdefault(alias.lower(), []).append(cap.id)
        return {k: tuple(sorted(v)) for k, v in out.items()}

    def closure(self, caps: list[str] | tuple[str, ...]) -> frozenset[str]:
        """What a model with ``caps`` can do: each one, its ancestors, and what it implies."""
        seen: set[str] = set()
        stack = list(caps)
        while stack:
            cap = stack.pop()
            if cap in seen:
                continue
            seen.add(cap)
            parent = cap.rpartition(".")[0]
            if parent:
                stack.append(parent)
            if cap in self.capabilities:
                stack.extend(self.capabilities[cap].implies)
        return frozenset(seen)

    def resolve(self, words: list[str]) -> frozenset[str]:
        """Capability ids or human aliases → capability ids; unknown words raise KeyError."""
        out: set[str] = set()
        for word in words:
            if word in self.capabilities:
                out.add(word)
            elif word.lower() in self.aliases:
                out.update(self.aliases[word.lower()])
            else:
                raise KeyError(word)
        return frozenset(out)


@dataclass(frozen=True)
class Catalog:
    root: Path
    units: dict[str, Unit]
    taxonomy: Taxonomy
    providers: tuple[Provider, ...]
    _unit_registry: UnitRegistry = field(repr=False)
    _capability_file: CapabilityTaxonomy = field(repr=False)

    @cached_property
    def version(self) -> str:
        """Content hash of the validated catalog: same content, same version, on any machine."""
        digest = hashlib.sha256()
        for part in (self._unit_registry, self._capability_file, *self.providers):
            digest.update(_canonical(part))
            digest.update(b"\n")
        return "cat_" + digest.hexdigest()[:16]

    def provider(self, provider_id: str) -> Provider:
        for p in self.providers:
            if p.id == provider_id:
                return p
        raise KeyError(provider_id)

    def models(self) -> Iterator[tuple[Provider, Model]]:
        for provider in self.providers:
            for model in provider.models:
                yield provider, model


def _canonical(obj: BaseModel) -> bytes:
    data = obj.model_dump(mode="json", by_alias=True, exclude={"schema_"})
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _validate(model: type[BaseModel], doc: Any, file: str) -> tuple[Any, list[Problem]]:
    if not isinstance(doc, dict):
        return None, [Problem(file, 1, 1, "", "the file must hold a mapping at the top level")]
    try:
        return model.model_validate(to_plain(doc)), []
    except ValidationError as exc:
        return None, problems_from_validation(exc, doc, file)


def display_path(path: Path, root: Path) -> str:
    """How a catalog file is named in messages: relative to the catalog's parent directory."""
    try:
        return str(path.relative_to(root.parent))
    except ValueError:
        return str(path)


def load_catalog(root: Path) -> Catalog:
    """Load and validate a catalog directory, or raise InputError listing every problem."""
    root = root.resolve()
    problems: list[Problem] = []
    if not root.is_dir():
        raise InputError([Problem(str(root), 1, 1, "", "catalog directory does not exist")])

    units_name = display_path(root / UNITS_FILE, root)
    units_doc = read_yaml(root / UNITS_FILE, units_name)
    registry, found = _validate(UnitRegistry, units_doc, units_name)
    problems += found
    caps_name = display_path(root / CAPABILITIES_FILE, root)
    caps_doc = read_yaml(root / CAPABILITIES_FILE, caps_name)
    cap_file, found = _validate(CapabilityTaxonomy, caps_doc, caps_name)
    problems += found

    units: dict[str, Unit] = {}
    if registry is not None:
        problems += _check_units(registry, units_doc, units_name)
        units = {u.id: u for u in registry.units}
    capabilities: dict[str, Capability] = {}
    if cap_file is not None:
        problems += _check_taxonomy(cap_file, caps_doc, caps_name)
        capabilities = {c.id: c for c in cap_file.capabilities}

    providers: list[Provider] = []
    provider_files = sorted((root / PROVIDERS_DIR).glob("*.yaml"))
    if not provider_files:
        problems.append(
            Problem(display_path(root / PROVIDERS_DIR, root), 1, 1, "", "no provider files")
        )
    for path in provider_files:
        name = display_path(path, root)
        try:
            doc = read_yaml(path, name)
        except InputError as exc:
            problems += exc.problems
            continue
        provider, found = _validate(Provider, doc, name)
        problems += found
        if provider is not None:
            problems += _check_provider(provider, path.stem, doc, name, units, capabilities)
            providers.append(provider)

    if problems:
        raise InputError(problems)
    assert registry is not None and cap_file is not None
    return Catalog(
        root=root,
        units=units,
        taxonomy=Taxonomy(capabilities),
        providers=tuple(providers),
        _unit_registry=registry,
        _capability_file=cap_file,
    )


def _check_units(registry: UnitRegistry, doc: Any, file: str) -> list[Problem]:
    problems = []
    seen: set[str] = set()
    for i, unit in enumerate(registry.units):
        if unit.id in seen:
            problems.append(
                problem_at(doc, ["units", i, "id"], file, f"duplicate unit {unit.id!r}")
            )
        seen.add(unit.id)
    return problems


def _check_taxonomy(tax: CapabilityTaxonomy, doc: Any, file: str) -> list[Problem]:
    problems = []
    ids = [c.id for c in tax.capabilities]
    known = set(ids)
    if ids != sorted(ids):
        first = next(i for i, (a, b) in enumerate(zip(ids, sorted(ids), strict=True)) if a != b)
        problems.append(
            problem_at(
                doc, ["capabilities", first, "id"], file, "capabilities must be sorted by id"
            )
        )
    for i, cap in enumerate(tax.capabilities):
        loc: list[str | int] = ["capabilities", i]
        parent = cap.id.rpartition(".")[0]
        if ids.count(cap.id) > 1:
            problems.append(problem_at(doc, [*loc, "id"], file, f"duplicate capability {cap.id!r}"))
        if parent and parent not in known:
            problems.append(
                problem_at(doc, [*loc, "id"], file, f"parent {parent!r} is not defined")
            )
        if not parent and cap.class_ is None:
            problems.append(problem_at(doc, loc, file, "a root capability needs a class"))
        for j, implied in enumerate(cap.implies):
            if implied not in known:
                problems.append(
                    problem_at(doc, [*loc, "implies", j], file, f"unknown capability {implied!r}")
                )
    return problems


def _check_provider(
    provider: Provider,
    stem: str,
    doc: Any,
    file: str,
    units: dict[str, Unit],
    capabilities: dict[str, Capability],
) -> list[Problem]:
    problems = []
    if provider.id != stem:
        problems.append(problem_at(doc, ["id"], file, f"provider id must match file name {stem!r}"))
    model_ids = [m.id for m in provider.models]
    for i in range(1, len(model_ids)):
        if model_ids[i] <= model_ids[i - 1]:
            what = "duplicate model id" if model_ids[i] == model_ids[i - 1] else "models not sorted"
            msg = f"{what}: {model_ids[i]!r} comes after {model_ids[i - 1]!r}"
            problems.append(problem_at(doc, ["models", i, "id"], file, msg))
    names: dict[str, int] = {mid: i for i, mid in enumerate(model_ids)}
    for i, model in enumerate(provider.models):
        for j, alias in enumerate(model.aliases):
            owner = names.setdefault(alias, i)
            if owner != i:
                msg = f"alias {alias!r} already names model {model_ids[owner]!r}"
                problems.append(problem_at(doc, ["models", i, "aliases", j], file, msg))
        problems += _check_model(model, ["models", i], doc, file, units, capabilities)
    return problems


def _check_model(
    model: Model,
    loc: list[str | int],
    doc: Any,
    file: str,
    units: dict[str, Unit],
    capabilities: dict[str, Capability],
) -> list[Problem]:
    problems = []
    for j, cap in enumerate(model.capabilities):
        if cap not in capabilities:
            msg = f"unknown capability {cap!r} (see capabilities.yaml)"
            problems.append(problem_at(doc, [*loc, "capabilities", j], file, msg))
    seen: set[tuple[str, str, str]] = set()
    for k, row in enumerate(model.prices):
        row_loc = [*loc, "prices", k]
        unit = units.get(row.dimension)
        if unit is None:
            msg = f"unknown dimension {row.dimension!r} (see units.yaml)"
            problems.append(problem_at(doc, [*row_loc, "dimension"], file, msg))
            continue
        for qualifier in ("image_size", "image_quality", "video_resolution"):
            if getattr(row.conditions, qualifier) is not None and qualifier not in unit.qualifiers:
                msg = f"dimension {row.dimension!r} is not priced by {qualifier}"
                problems.append(problem_at(doc, [*row_loc, "conditions", qualifier], file, msg))
        key = (*row.series_key(), row.effective_from.isoformat())
        if key in seen:
            msg = "duplicate price row: same dimension, conditions and effective_from"
            problems.append(problem_at(doc, [*row_loc, "effective_from"], file, msg))
        seen.add(key)
    return problems
