"""Small catalogs written into tmp dirs for the catalog tests (independent of the bundled one).

Texts are kept short and explicit so tests can assert exact line:column positions.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

UNITS = """\
units:
  - id: input_tokens
    quantity: tokens
    per: 1000000
    usage_key: input_tokens
    description: Input tokens.
  - id: output_images
    quantity: images
    per: 1
    usage_key: output_images
    qualifiers: [image_size, image_quality]
    description: Generated images.
  - id: output_tokens
    quantity: tokens
    per: 1000000
    usage_key: output_tokens
    description: Output tokens.
"""

CAPABILITIES = """\
classes: [text, vision, image]
capabilities:
  - id: image
    class: image
    description: Images.
  - id: image.generation
    description: Images from text.
    aliases: [image generation]
  - id: text
    class: text
    description: Text.
  - id: text.chat
    description: Chat.
  - id: vision
    class: vision
    description: Vision.
  - id: vision.multi_image
    description: Several images.
    implies: [vision.single_image]
  - id: vision.single_image
    description: One image.
"""

# Line numbers matter to tests: models[0] starts on line 8, its prices on line 14.
ACME = """\
id: acme
name: Acme
kind: cloud
api_style: openai-compatible
base_url: https://api.acme.test/v1
auth: {scheme: bearer}
models:
  - id: alpha
    name: Alpha
    mode: chat
    modalities: {input: [text], output: [text]}
    capabilities: [text.chat]
    prices:
      - dimension: input_tokens
        amount: 1.25
        effective_from: 2025-01-01T00:00:00Z
        provenance: {source: https://acme.test/pricing, recorded_at: 2025-01-02T00:00:00Z}
      - dimension: output_tokens
        amount: 10
        effective_from: 2025-01-01T00:00:00Z
        provenance: {source: https://acme.test/pricing, recorded_at: 2025-01-02T00:00:00Z}
  - id: beta
    name: Beta
    mode: image_generation
    modalities: {input: [text], output: [image]}
    capabilities: [image.generation]
    prices:
      - dimension: output_images
        amount: 0.04
        effective_from: 2025-02-01T00:00:00Z
        conditions: {image_size: 1024x1024, image_quality: hd}
        provenance: {source: https://acme.test/pricing, recorded_at: 2025-02-01T00:00:00Z}
"""


def write_catalog(
    root: Path,
    providers: dict[str, str] | None = None,
    units: str = UNITS,
    capabilities: str = CAPABILITIES,
) -> Path:
    """Write a catalog directory (default: one provider, ``acme``) and return it."""
    (root / "providers").mkdir(parents=True, exist_ok=True)
    (root / "units.yaml").write_text(units)
    (root / "capabilities.yaml").write_text(capabilities)
    for old in (root / "providers").glob("*.yaml"):
        old.unlink()
    for provider_id, text in (providers if providers is not None else {"acme": ACME}).items():
        (root / "providers" / f"{provider_id}.yaml").write_text(text)
    return root


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo`` with a fixed identity (tests must not depend on the user's config)."""
    done = subprocess.run(
        [
            "git",
            "-c",
            "user.name=test",
            "-c",
            "user.email=test@example.invalid",
            "-c",
            "commit.gpgsign=false",
            "-C",
            str(repo),
            *args,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def init_repo(repo: Path) -> None:
    repo.mkdir(parents=True, exist_ok=True)
    git(repo, "init", "-q", "-b", "main")


def commit_all(repo: Path, message: str = "catalog") -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
