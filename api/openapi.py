"""The committed OpenAPI document (api/openapi.json) is generated from the app, never edited.

``python -m byokvault.api.openapi`` rewrites it; a test fails when it is stale.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .app import create_app
from .settings import Settings

COMMITTED = Path(__file__).resolve().parent / "openapi.json"


def generate() -> dict[str, Any]:
    # Building the app touches no disk; the schema depends on the code only.
    app = create_app(Settings(admin_token="x" * 16))
    return app.openapi_schema.to_schema()


def render() -> str:
    return json.dumps(generate(), indent=1, sort_keys=True) + "\n"


def main() -> None:
    COMMITTED.write_text(render(), encoding="utf-8")
    print(f"wrote {COMMITTED}")


if __name__ == "__main__":
    main()
