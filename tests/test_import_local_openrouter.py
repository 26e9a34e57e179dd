"""OpenRouter's model list, and local endpoints served by a real HTTP server on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from byokvault.engine.catalog.load import load_catalog
from byokvault.engine.cli import main
from byokvault.engine.importers.fetch import FetchError
from byokvault.engine.importers.local import import_ollama, import_openai_compatible
from byokvault.engine.importers.openrouter import import_openrouter
from byokvault.engine.importers.sources import SourcesConfig

FIXTURES = Path(__file__).parent / "fixtures" / "import"
AT = datetime(2026, 11, 27, 4, 0, tzinfo=UTC)

TAGS = {
    "models": [
        {
            "name": "llama3.2:latest",
            "model": "llama3.2:latest",
            "size": 2019393189,
            "details": {
                "family": "llama",
                "parameter_size": "3.2B",
                "quantization_level": "Q4_K_M",
            },
        },
        {"name": "llava:7b", "model": "llava:7b", "details": {"family": "llama"}},
        {"name": "nomic-embed-text:latest", "model": "nomic-embed-text:latest", "details": {}},
    ]
}
SHOW = {
    "llama3.2:latest": {
        "capabilities": ["completion", "tools"],
        "model_info": {"llama.context_length": 131072},
    },
    "llava:7b": {
        "capabilities": ["completion", "vision"],
        "model_info": {"llama.context_length": 32768},
    },
    "nomic-embed-text:latest": {
        "capabilities": ["embedding"],
        "model_info": {"nomic-bert.context_length": 2048},
    },
}
V1_MODELS = {
    "object": "list",
    "data": [
        {
            "id": "Qwen/Qwen2.5-7B-Instruct",
            "object": "model",
            "owned_by": "vllm",
            "max_model_len": 32768,
        },
        {
            "id": "qwen2-vl-7b",
            "object": "model",
            "owned_by": "organization_owner",
            "type": "vlm",
            "max_context_length": 8192,
        },
        {"id": "text-embedding-nomic-embed-text-v1.5", "object": "model", "type": "embeddings"},
    ],
}


class _Handler(BaseHTTPRequestHandler):
    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        routes = {"/api/tags": TAGS, "/v1/models": V1_MODELS}
        path = self.path.partition("?")[0]
        if path in routes:
            self._send(200, routes[path])
        else:
            self._send(500, {"error": "boom"})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self._send(200, SHOW[body["model"]])

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_openrouter_prices_variable_and_free() -> None:
    result = import_openrouter(FIXTURES / "openrouter_models.json", recorded_at=AT)
    sonnet = result.models[("openrouter", "anthropic/claude-sonnet-4.5")]
    amounts = {r.dimension: r.amount for r in sonnet.prices}
    assert amounts == {
        "input_tokens": Decimal(3),
        "output_tokens": Decimal(15),
        "input_images": Decimal("0.0048"),
        "web_searches": Decimal(10),
        "cache_read_tokens": Decimal("0.3"),
        "cache_write_tokens": Decimal("3.75"),
    }
    assert {
        "reasoning",
        "tools.function_calling",
        "structured_output.json_schema",
        "vision.pdf",
    } <= sonnet.capabilities
    assert result.models[("openrouter", "openrouter/auto")].prices == []  # -1: variable
    assert result.skipped["variable or non-numeric price (prompt='-1')"] == 1
    free = result.models[("openrouter", "meta-llama/llama-3.3-70b-instruct:free")]
    assert {r.dimension: r.amount for r in free.prices} == {"input_tokens": 0, "output_tokens": 0}
    assert result.unmapped["pricing.image_output"] == 1
    assert result.unmapped["model.expiration_date"] == 1
    audio = result.models[("openrouter", "openai/gpt-4o-audio-preview")]
    assert {
        "audio.input",
        "audio.output",
        "tools.parallel_calls",
        "search.web",
    } <= audio.capabilities
    embed = result.models[("openrouter", "openai/text-embedding-3-small")]
    assert [(r.dimension, r.amount) for r in embed.prices] == [
        ("embedding_tokens", Decimal("0.02"))
    ]


def test_ollama_over_loopback_with_server_capabilities(server: str) -> None:
    result = import_ollama(
        server, recorded_at=AT, capabilities={"llama3.*": ["structured_output.json_mode"]}
    )
    llama = result.models[("ollama", "llama3.2:latest")]
    assert {
        "tools.function_calling",
        "structured_output.json_mode",
        "text.chat",
    } <= llama.capabilities
    assert llama.limits == {"context_window": 131072}
    assert {(r.dimension, r.amount) for r in llama.prices} == {
        ("input_tokens", 0),
        ("output_tokens", 0),
    }
    llava = result.models[("ollama", "llava:7b")]
    assert "vision.single_image" in llava.capabilities
    embed = result.models[("ollama", "nomic-embed-text:latest")]
    assert embed.mode.value == "embedding"
    assert [(r.dimension, r.amount) for r in embed.prices] == [("embedding_tokens", 0)]


def test_openai_compatible_over_loopback(server: str) -> None:
    result = import_openai_compatible(server + "/v1/models", recorded_at=AT)
    assert result.providers["openai-compatible"].base_url == server + "/v1"
    qwen = result.models[("openai-compatible", "qwen/qwen2.5-7b-instruct")]
    assert "Qwen/Qwen2.5-7B-Instruct" in qwen.source_names
    assert qwen.limits == {"context_window": 32768}
    assert "vision.single_image" in result.models[("openai-compatible", "qwen2-vl-7b")].capabilities
    embed = result.models[("openai-compatible", "text-embedding-nomic-embed-text-v1.5")]
    assert embed.mode.value == "embedding"


def test_failing_server_raises_and_cli_writes_nothing(server: str, tmp_path: Path) -> None:
    with pytest.raises(FetchError):
        import_openai_compatible(server + "/nothing-here")
    dest = tmp_path / "cat"
    code = main(["catalog", "import", "ollama", "--from", server + "/broken", "--into", str(dest)])
    assert code == 1
    assert not list((dest / "providers").glob("*.yaml")) if (dest / "providers").exists() else True


def test_cli_imports_local_server_into_a_loadable_catalog(server: str, tmp_path: Path) -> None:
    dest = tmp_path / "cat"
    assert main(["catalog", "import", "ollama", "--from", server, "--into", str(dest)]) == 0
    catalog = load_catalog(dest)
    ollama = catalog.provider("ollama")
    assert ollama.kind.value == "local"
    assert len(ollama.models) == 3
    assert all(row.amount == 0 for m in ollama.models for row in m.prices)


def test_credentials_in_a_source_url_reach_no_row_report_or_error(server: str) -> None:
    """A source configured with a key in its URL: the import still reads it, but the key is in
    nothing the import produces (origin, provider base URL, provenance) nor in a fetch error."""
    keyed = server.replace("http://", "http://ops:pw-canary-1@")
    config = SourcesConfig(
        priority=["curated", "openai-compatible"],
        sources={"openai-compatible": {"url": keyed + "/v1/models?api_key=sk-canary-2"}},
    )
    result = import_openai_compatible(keyed + "/v1/models", config=config, recorded_at=AT)
    assert result.models  # the credentials were used to read the source
    row = next(r for m in result.models.values() for r in m.prices)
    shown = [result.origin, result.providers["openai-compatible"].base_url, row.provenance.source]
    assert all("127.0.0.1" in text for text in shown)  # each still names its source
    assert not any("canary" in text for text in shown)
    with pytest.raises(FetchError) as failed:
        import_openai_compatible(keyed + "/nothing-here?token=sk-canary-3")
    assert "127.0.0.1" in str(failed.value)
    assert "canary" not in str(failed.value) and failed.value.__cause__ is None
