"""Small catalogs for routing tests: the bundled registries plus provider YAML given as text."""

from __future__ import annotations

import shutil
from pathlib import Path

from byokvault.engine.paths import BUNDLED_CATALOG

PROVENANCE = "{source: test, recorded_at: 2025-01-01T00:00:00Z}"


def write_catalog(root: Path, providers: dict[str, str]) -> Path:
    """A catalog dir with the bundled units and taxonomy and the given provider files."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ("units.yaml", "capabilities.yaml"):
        shutil.copy(BUNDLED_CATALOG / name, root / name)
    (root / "providers").mkdir(exist_ok=True)
    for provider_id, text in providers.items():
        (root / "providers" / f"{provider_id}.yaml").write_text(text)
    return root


def provider_yaml(provider_id: str, models: list[str], kind: str = "cloud") -> str:
    """Provider file text; ``models`` are YAML blocks from :func:`model_yaml`, any order."""
    body = "".join(sorted(models))
    scheme = "none" if kind == "local" else "bearer"
    return (
        f"id: {provider_id}\nname: {provider_id}\nkind: {kind}\napi_style: openai-compatible\n"
        f"base_url: http://127.0.0.1:1/v1\nauth:\n  scheme: {scheme}\n"
        f"models:\n{body}"
    )


def model_yaml(
    model_id: str,
    *,
    mode: str = "chat",
    caps: tuple[str, ...] = ("text.chat",),
    context: int | None = 128_000,
    max_output: int | None = 8_192,
    max_images: int | None = None,
    deprecated: str | None = None,
    retired: str | None = None,
    prices: dict[str, str] | None = None,
    extra_prices: str = "",
) -> str:
    """One model block; ``prices`` maps dimension → amount (effective 2024-01-01)."""
    lines = [
        f"  - id: {model_id}",
        f"    name: {model_id}",
        f"    mode: {mode}",
        "    modalities: {input: [text, image], output: [text]}",
        f"    capabilities: [{', '.join(caps)}]",
        "    limits:",
    ]
    if context:
        lines.append(f"      context_window: {context}")
    if max_output:
        lines.append(f"      max_output_tokens: {max_output}")
    if max_images:
        lines.append(f"      max_images_per_request: {max_images}")
    if not (context or max_output or max_images):
        lines[-1] = "    limits: {}"
    life = {"deprecated": deprecated, "retired": retired}
    if any(life.values()):
        lines.append("    lifecycle:")
        lines += [f"      {k}: {v}" for k, v in life.items() if v]
    prices = {"input_tokens": "1", "output_tokens": "2"} if prices is None else prices
    lines.append("    prices:" if prices or extra_prices else "    prices: []")
    for dim, amount in prices.items():
        lines.append(
            f"      - {{dimension: {dim}, amount: {amount}, "
            f"effective_from: 2024-01-01T00:00:00Z, provenance: {PROVENANCE}}}"
        )
    return "\n".join(lines) + "\n" + extra_prices
