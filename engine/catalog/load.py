"""Load a catalog directory: parse every file, validate each strictly, then check the rules that
span files (registries, sort order, duplicates). All problems are collected and raised together;
a catalog with any problem loads nothing.

Speed: files are parsed with the fast reader into plain data and validated; only a file with a
problem is re-read with the position-keeping reader, to say file:line:column for each problem.
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

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
from .yamlio import InputError, Problem, load_plain, parse_yaml, problem_at, to_plain

UNITS_FILE = "units.yaml"
CAPABILITIES_FILE = "capabilities.yaml"
PROVIDERS_DIR = "providers"

# Bump when the snapshot's tables change shape or meaning: it is part of every version, so a
# snapshot written by older code is never reused for the same YAML.
SNAPSHOT_FORMAT = 1

# A problem before it is located: where in the document (a pydantic-style loc), and what.
Issue = tuple[list[str | int], str]
M = TypeVar("M", bound=BaseModel)


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
    """A validated catalog. ``providers`` may be loaded on first use (a snapshot of the same
    files was already built and verified, see ``store.build``)."""

    root: Path
    units: dict[str, Unit]
    taxonomy: Taxonomy
    _providers: tuple[Provider, ...] | None = field(repr=False)
    _unit_registry: UnitRegistry = field(repr=False)
    _capability_file: CapabilityTaxonomy = field(repr=False)
    _known_version: str | None = field(default=None, repr=False)

    @cached_property
    def providers(self) -> tuple[Provider, ...]:
        if self._providers is not None:
            return self._providers
        full = load_catalog(self.root)
        if full.version != self.version:
            message = f"the catalog changed on disk since version {self.version} was opened"
            raise InputError([Problem(str(self.root), 1, 1, "", message)])
        return full.providers

    @cached_property
    def version(self) -> str:
        """Content hash of the validated catalog: same content, same version, on any machine."""
        if self._known_version is not None:
            return self._known_version
        digest = hashlib.sha256(f"snapshot-format-{SNAPSHOT_FORMAT}\n".encode())
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
    """Validated content as JSON: fields in declaration order, so key order and formatting of
    the YAML (and its comments) do not change it."""
    return obj.model_dump_json(by_alias=True, exclude={"schema_"}).encode()


def display_path(path: Path, root: Path) -> str:
    """How a catalog file is named in messages: relative to the catalog's parent directory."""
    try:
        return str(path.relative_to(root.parent))
    except ValueError:
        return str(path)


def _validate_plain(
    model: type[M], data: Any, check: Callable[[M], list[Issue]]
) -> tuple[M | None, list[Issue]]:
    if not isinstance(data, dict):
        return None, [([], "the file must hold a mapping at the top level")]
    try:
        obj = model.model_validate(data)
    except ValidationError as exc:
        return None, [(list(e["loc"]), e["msg"]) for e in exc.errors(include_url=False)]
    return obj, check(obj)


def read_validated(
    path: Path, name: str, model: type[M], check: Callable[[M], list[Issue]] = lambda _: []
) -> tuple[M | None, list[Problem]]:
    """Read one file as ``model`` and run ``check`` on it: the object, or the located problems.

    The fast reader and plain validation come first; a file with any problem is read again
    keeping positions, and validated again from that reading (which also settles anything the
    fast reader left out), so each problem gets its file:line:column.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(name, 1, 1, "", f"cannot read file: {exc}")]
    try:
        obj, issues = _validate_plain(model, load_plain(text, name), check)
        if obj is not None and not issues:
            return obj, []
        doc = parse_yaml(text, name)
    except InputError as exc:  # a YAML syntax error, already located
        return None, exc.problems
    obj, issues = _validate_plain(model, to_plain(doc), check)
    problems = [problem_at(doc, loc, name, message) for loc, message in issues]
    return (obj if not problems else None), problems


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: loading allocates millions of objects and no cycles,
    and each collection would scan them all again (about half the load time of a big catalog)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load_catalog(root: Path) -> Catalog:
    """Load and validate a catalog directory, or raise InputError listing every problem."""
    with gc_paused():
        return _load_catalog(root.resolve())


def _load_catalog(root: Path) -> Catalog:
    registry, cap_file, problems = _load_registries(root)
    units = {u.id: u for u in registry.units} if registry else None
    capabilities = {c.id: c for c in cap_file.capabilities} if cap_file else None

    providers: list[Provider] = []
    provider_files = sorted((root / PROVIDERS_DIR).glob("*.yaml"))
    if not provider_files:
        name = display_path(root / PROVIDERS_DIR, root)
        problems.append(Problem(name, 1, 1, "", "no provider files"))
    for path in provider_files:

        def check(provider: Provider, stem: str = path.stem) -> list[Issue]:
            return _check_provider(provider, stem, units, capabilities)

        provider, found = read_validated(path, display_path(path, root), Provider, check)
        problems += found
        if provider is not None:
            providers.append(provider)

    if problems:
        raise InputError(problems)
    return _catalog(root, registry, cap_file, tuple(providers))


def lazy_catalog(root: Path, version: str) -> Catalog:
    """The catalog of ``root`` whose files were already validated as ``version``: registries
    now, providers on first use (and checked to still be ``version`` then)."""
    root = root.resolve()
    registry, cap_file, problems = _load_registries(root)
    if problems:
        raise InputError(problems)
    return _catalog(root, registry, cap_file, None, version)


def _catalog(
    root: Path,
    registry: UnitRegistry | None,
    cap_file: CapabilityTaxonomy | None,
    providers: tuple[Provider, ...] | None,
    version: str | None = None,
) -> Catalog:
    assert registry is not None and cap_file is not None
    return Catalog(
        root=root,
        units={u.id: u for u in registry.units},
        taxonomy=Taxonomy({c.id: c for c in cap_file.capabilities}),
        _providers=providers,
        _unit_registry=registry,
        _capability_file=cap_file,
        _known_version=version,
    )


def _load_registries(
    root: Path,
) -> tuple[UnitRegistry | None, CapabilityTaxonomy | None, list[Problem]]:
    if not root.is_dir():
        raise InputError([Problem(str(root), 1, 1, "", "catalog directory does not exist")])
    units_path, caps_path = root / UNITS_FILE, root / CAPABILITIES_FILE
    registry, problems = read_validated(
        units_path, display_path(units_path, root), UnitRegistry, _check_units
    )
    cap_file, found = read_validated(
        caps_path, display_path(caps_path, root), CapabilityTaxonomy, _check_taxonomy
    )
    return registry, cap_file, problems + found


def _check_units(registry: UnitRegistry) -> list[Issue]:
    issues: list[Issue] = []
    seen: set[str] = set()
    for i, unit in enumerate(registry.units):
        if unit.id in seen:
            issues.append((["units", i, "id"], f"duplicate unit {unit.id!r}"))
        seen.add(unit.id)
    return issues


def _check_taxonomy(tax: CapabilityTaxonomy) -> list[Issue]:
    issues: list[Issue] = []
    ids = [c.id for c in tax.capabilities]
    known = set(ids)
    for i in range(1, len(ids)):
        if ids[i] <= ids[i - 1]:
            what = "duplicate capability" if ids[i] == ids[i - 1] else "capabilities not sorted"
            issues.append(
                (["capabilities", i, "id"], f"{what}: {ids[i]!r} comes after {ids[i - 1]!r}")
            )
    for i, cap in enumerate(tax.capabilities):
        loc: list[str | int] = ["capabilities", i]
        parent = cap.id.rpartition(".")[0]
        if parent and parent not in known:
            issues.append(([*loc, "id"], f"parent {parent!r} is not defined"))
        if not parent and cap.class_ is None:
            issues.append((loc, "a root capability needs a class"))
        for j, implied in enumerate(cap.implies):
            if implied not in known:
                issues.append(([*loc, "implies", j], f"unknown capability {implied!r}"))
    return issues


def _check_provider(
    provider: Provider,
    stem: str,
    units: dict[str, Unit] | None,
    capabilities: dict[str, Capability] | None,
) -> list[Issue]:
    """Rules beyond one object's fields. ``units``/``capabilities`` are None when their file is
    broken: references to them are not checked then (that file's problems are reported)."""
    issues: list[Issue] = []
    if provider.id != stem:
        issues.append((["id"], f"provider id must match file name {stem!r}"))
    model_ids = [m.id for m in provider.models]
    for i in range(1, len(model_ids)):
        if model_ids[i] <= model_ids[i - 1]:
            what = "duplicate model id" if model_ids[i] == model_ids[i - 1] else "models not sorted"
            msg = f"{what}: {model_ids[i]!r} comes after {model_ids[i - 1]!r}"
            issues.append((["models", i, "id"], msg))
    names: dict[str, int] = {mid: i for i, mid in enumerate(model_ids)}
    for i, model in enumerate(provider.models):
        for j, alias in enumerate(model.aliases):
            owner = names.setdefault(alias, i)
            if owner != i:
                msg = f"alias {alias!r} already names model {model_ids[owner]!r}"
                issues.append((["models", i, "aliases", j], msg))
        issues += _check_model(model, ["models", i], units, capabilities)
    return issues


def _check_model(
    model: Model,
    loc: list[str | int],
    units: dict[str, Unit] | None,
    capabilities: dict[str, Capability] | None,
) -> list[Issue]:
    issues: list[Issue] = []
    for j, cap in enumerate(model.capabilities):
        if capabilities is not None and cap not in capabilities:
            msg = f"unknown capability {cap!r} (see capabilities.yaml)"
            issues.append(([*loc, "capabilities", j], msg))
    seen: set[tuple[str, str, object]] = set()
    for k, row in enumerate(model.prices):
        row_loc = [*loc, "prices", k]
        key = (*row.series_key(), row.effective_from)
        if key in seen:
            msg = "duplicate price row: same dimension, conditions and effective_from"
            issues.append(([*row_loc, "effective_from"], msg))
        seen.add(key)
        if units is None:
            continue
        unit = units.get(row.dimension)
        if unit is None:
            msg = f"unknown dimension {row.dimension!r} (see units.yaml)"
            issues.append(([*row_loc, "dimension"], msg))
            continue
        for qualifier in ("image_size", "image_quality", "video_resolution"):
            if getattr(row.conditions, qualifier) is not None and qualifier not in unit.qualifiers:
                msg = f"dimension {row.dimension!r} is not priced by {qualifier}"
                issues.append(([*row_loc, "conditions", qualifier], msg))
    return issues
