"""``catalog/sources.yaml``: the declared source priority, the live sources, provider aliases
and provider defaults. Validated strictly like every other catalog file (file:line errors)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError, model_validator

from ..catalog.model import ApiStyle, AuthScheme, ProviderKind, Strict
from ..catalog.yamlio import InputError, Problem, problems_from_validation, read_yaml, to_plain
from ..paths import BUNDLED_CATALOG
from ..redact import redact_url
from .common import canonical_id

SOURCES_FILE = "sources.yaml"
CURATED = "curated"
# Every importer, by the name the CLI and provenance use.
IMPORTERS = ("genai-prices", "litellm", "models-dev", "openrouter", "ollama", "openai-compatible")


class SourceSetting(Strict):
    url: Annotated[str, Field(min_length=1)]
    # what imported rows cite as provenance.source (a short public page); default: url
    cite: Annotated[str, Field(min_length=1)] | None = None
    live: bool = False
    # Local endpoints: model-name glob → capability ids, for what the server cannot tell.
    capabilities: dict[str, list[str]] = Field(default_factory=dict)


class ProviderDefaults(Strict):
    name: str | None = None
    kind: ProviderKind = ProviderKind.cloud
    api_style: ApiStyle = ApiStyle.openai_compatible
    auth: AuthScheme = AuthScheme.bearer
    auth_header: str | None = None
    base_url: Annotated[str, Field(pattern=r"^https?://")] | None = None


class SourcesConfig(Strict):
    priority: list[str]
    sources: dict[str, SourceSetting] = Field(default_factory=dict)
    provider_aliases: dict[str, dict[str, str]] = Field(default_factory=dict)
    providers: dict[str, ProviderDefaults] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_sources(self) -> SourcesConfig:
        known = {CURATED, *IMPORTERS}
        unknown = [
            s for s in [*self.priority, *self.sources, *self.provider_aliases] if s not in known
        ]
        if unknown:
            raise ValueError(f"unknown source(s) {sorted(set(unknown))}; known: {sorted(known)}")
        if self.priority and self.priority[0] != CURATED:
            raise ValueError("curated must come first: an import never overrides curated rows")
        if len(set(self.priority)) != len(self.priority):
            raise ValueError("a source is listed twice in priority")
        return self

    @cached_property
    def rank(self) -> dict[str, int]:
        """Source → position in the priority (lower wins); unlisted sources rank last."""
        return {source: i for i, source in enumerate(self.priority)}

    def rank_of(self, source: str) -> int:
        return self.rank.get(source, len(self.priority))

    def provider_id(self, source: str, name: str) -> str:
        """A source's provider name → the canonical provider id."""
        aliases = self.provider_aliases.get(source, {})
        return aliases.get(name) or canonical_id(name.replace("_", "-").replace("/", "-"))

    def cite(self, source: str) -> str:
        """What an imported row's ``provenance.source`` says: the source's published URL (its
        ``url`` here, whatever file or mirror was read), else the importer's name."""
        setting = self.sources.get(source)
        if setting is None:
            return source
        # a cited URL is stored in every imported row (YAML, Parquet): never its credentials
        return redact_url(setting.cite or setting.url)

    @cached_property
    def imported_sources(self) -> frozenset[str]:
        """Every provenance an importer writes: a row citing anything else was curated."""
        return frozenset({*IMPORTERS, *(self.cite(s) for s in IMPORTERS)})

    def defaults(self, provider_id: str) -> ProviderDefaults:
        return self.providers.get(provider_id, ProviderDefaults())


def load_sources(catalog_dir: Path | None = None) -> SourcesConfig:
    """The sources file of ``catalog_dir``, or the bundled one when the catalog has none."""
    path = (catalog_dir or BUNDLED_CATALOG) / SOURCES_FILE
    if not path.is_file():
        path = BUNDLED_CATALOG / SOURCES_FILE
    return _cached(path.resolve(), path.stat().st_mtime_ns)


_CACHE: dict[tuple[Path, int], SourcesConfig] = {}


def _cached(path: Path, mtime: int) -> SourcesConfig:
    key = (path, mtime)
    if key not in _CACHE:
        _CACHE[key] = parse_sources(path)
    return _CACHE[key]


def parse_sources(path: Path) -> SourcesConfig:
    doc = read_yaml(path, path.name)
    if not isinstance(doc, dict):
        raise InputError([Problem(path.name, 1, 1, "", "the file must hold a mapping")])
    try:
        return SourcesConfig.model_validate(to_plain(doc))
    except ValidationError as exc:
        raise InputError(problems_from_validation(exc, doc, path.name)) from exc
