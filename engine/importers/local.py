"""Import local endpoints: Ollama (``/api/tags``) and OpenAI-compatible servers (``/v1/models``:
vLLM, LM Studio, llama.cpp, ...). Every model is priced at an explicit 0 (it runs on your own
hardware: a price, not an unknown).

Capabilities come, in order, from the configuration (``capabilities: {glob: [ids]}`` for the
source in sources.yaml, or the ``capabilities=`` argument) and from the server's own metadata:
Ollama's ``/api/show`` (``capabilities``: completion, vision, tools, thinking, embedding, and the
context length in ``model_info``), vLLM's ``max_model_len``, LM Studio's ``type``
(llm/vlm/embeddings) and ``max_context_length``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from ..catalog.model import Modality, Mode
from ..redact import redact_url
from .common import ImportResult, ModelDraft, decimal_or_none
from .fetch import DEFAULT_TIMEOUT, FetchError, is_url, read_source
from .infer import baseline_capabilities, default_modalities, mode_from_name
from .sources import SourcesConfig, load_sources

OLLAMA = "ollama"
OPENAI_COMPATIBLE = "openai-compatible"
ZERO = Decimal(0)
OLLAMA_CAPABILITIES = {
    "vision": "vision.single_image",
    "tools": "tools.function_calling",
    "thinking": "reasoning",
    "embedding": "embeddings.text",
}
LM_STUDIO_TYPES = {"vlm": "vision.single_image"}
# the keys an OpenAI-compatible /v1/models entry may carry (vLLM, LM Studio, llama.cpp)
_SERVER_MODEL_KEYS = {"id", "object", "created", "owned_by", "type", "max_model_len",
                      "max_context_length", "root", "parent", "permission"}  # fmt: skip


def import_ollama(
    source: str | Path | Mapping[str, Any],
    *,
    config: SourcesConfig | None = None,
    recorded_at: datetime | None = None,
    capabilities: Mapping[str, list[str]] | None = None,
    client: httpx.Client | None = None,
) -> ImportResult:
    """``source``: an Ollama base URL or ``.../api/tags`` URL (then ``/api/show`` is asked per
    model for its capabilities), a saved ``/api/tags`` JSON file, or its parsed data."""
    config = config or load_sources()
    data, origin, base = _read(source, "/api/tags", client)
    models = data.get("models") if isinstance(data, Mapping) else None
    if not isinstance(models, list):
        raise ValueError(f"{origin}: expected Ollama's {{'models': [...]}} response")
    result = ImportResult.begin(OLLAMA, origin, config, recorded_at)
    provider_id = config.provider_id(OLLAMA, OLLAMA)
    result.provider(provider_id, OLLAMA).kind = "local"
    configured = capabilities if capabilities is not None else _configured(config, OLLAMA)
    for raw in models:
        result.entries_read += 1
        name = raw.get("model") or raw.get("name") if isinstance(raw, Mapping) else None
        if not isinstance(name, str):
            result.skipped["entry without a name"] += 1
            continue
        show = _show(base, name, client, result) if base else {}
        server_caps = {
            OLLAMA_CAPABILITIES[c]
            for c in show.get("capabilities") or []
            if c in OLLAMA_CAPABILITIES
        }
        mode = Mode.embedding if "embeddings.text" in server_caps else mode_from_name(name)
        context = _ollama_context(show.get("model_info") or {})
        _add(result, provider_id, name, mode, server_caps, configured, context)
    return result


def import_openai_compatible(
    source: str | Path | Mapping[str, Any],
    *,
    config: SourcesConfig | None = None,
    recorded_at: datetime | None = None,
    capabilities: Mapping[str, list[str]] | None = None,
    client: httpx.Client | None = None,
    provider: str = OPENAI_COMPATIBLE,
) -> ImportResult:
    """``source``: a server's base URL or ``.../v1/models`` URL, a saved response, or its data."""
    config = config or load_sources()
    data, origin, _ = _read(source, "/v1/models", client)
    models = data.get("data") if isinstance(data, Mapping) else None
    if not isinstance(models, list):
        raise ValueError(f"{origin}: expected an OpenAI-style {{'data': [...]}} model list")
    result = ImportResult.begin(OPENAI_COMPATIBLE, origin, config, recorded_at)
    provider_id = config.provider_id(OPENAI_COMPATIBLE, provider)
    draft = result.provider(provider_id, provider)
    draft.kind = "local"
    if is_url(source):
        # the catalog is public: a key in the URL stays out of it (keys belong in the vault)
        draft.base_url = redact_url(str(source).removesuffix("/models").removesuffix("/"))
    configured = (
        capabilities if capabilities is not None else _configured(config, OPENAI_COMPATIBLE)
    )
    for raw in models:
        result.entries_read += 1
        name = raw.get("id") if isinstance(raw, Mapping) else None
        if not isinstance(name, str):
            result.skipped["entry without an id"] += 1
            continue
        kind = raw.get("type")
        server_caps = {LM_STUDIO_TYPES[kind]} if kind in LM_STUDIO_TYPES else set()
        mode = Mode.embedding if kind == "embeddings" else mode_from_name(name)
        context = raw.get("max_model_len") or raw.get("max_context_length")
        result.count_unmapped(raw, _SERVER_MODEL_KEYS, "model")
        _add(result, provider_id, name, mode, server_caps, configured, context)
    return result


def _read(source: Any, endpoint: str, client: httpx.Client | None) -> tuple[Any, str, str | None]:
    if isinstance(source, Mapping):
        return source, "local endpoint data", None
    if is_url(source):
        url = str(source).rstrip("/")
        base = url.removesuffix(endpoint) if url.endswith(endpoint) else url
        data, origin = read_source(base + endpoint, client=client)
        return data, origin, base
    data, origin = read_source(source)
    return data, origin, None


def _show(base: str, name: str, client: httpx.Client | None, result: ImportResult) -> dict:
    """Ollama's per-model metadata; a model it cannot describe still imports (counted)."""
    try:
        if client is None:
            with httpx.Client(timeout=DEFAULT_TIMEOUT) as own:
                response = own.post(base + "/api/show", json={"model": name})
        else:
            response = client.post(base + "/api/show", json={"model": name})
        response.raise_for_status()
        data = response.json()
    except (httpx.HTTPError, ValueError):
        result.skipped["/api/show failed (no server metadata)"] += 1
        return {}
    return data if isinstance(data, dict) else {}


def _ollama_context(model_info: Mapping[str, Any]) -> int | None:
    for key, value in model_info.items():
        if key.endswith(".context_length") and isinstance(value, int) and value > 0:
            return value
    return None


def _configured(config: SourcesConfig, source: str) -> Mapping[str, list[str]]:
    setting = config.sources.get(source)
    return setting.capabilities if setting is not None else {}


def _add(
    result: ImportResult,
    provider_id: str,
    name: str,
    mode: Mode,
    server_caps: set[str],
    configured: Mapping[str, list[str]],
    context: Any,
) -> None:
    model_id = result.catalog_id(name)
    if model_id is None:
        return
    inputs, outputs = default_modalities(mode)
    caps = set(server_caps)
    for pattern, ids in configured.items():
        if fnmatch.fnmatch(name.lower(), pattern.lower()):
            caps |= set(ids)
    if "vision.single_image" in caps or "vision.multi_image" in caps:
        inputs.add(Modality.image)
    window = int(context) if decimal_or_none(context) else None
    caps |= baseline_capabilities(mode, inputs, outputs, window)
    dimensions = (
        ["embedding_tokens"] if mode == Mode.embedding else ["input_tokens", "output_tokens"]
    )
    result.add_model(
        ModelDraft(
            provider=provider_id,
            id=model_id,
            name=name,
            mode=mode,
            source=result.source,
            source_names={name} - {model_id},
            input_modalities=inputs,
            output_modalities=outputs,
            capabilities=caps,
            limits={"context_window": window} if window and window > 0 else {},
            prices=[result.row(d, ZERO) for d in dimensions],
        )
    )


__all__ = ["FetchError", "import_ollama", "import_openai_compatible"]
