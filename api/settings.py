"""Settings of one API deployment: where its data and catalog live and how it reaches providers.

Validated with pydantic at the boundary (this is read once, at startup). ``from_env`` reads the
``BYOKVAULT_*`` environment variables so ``byokvault serve`` and a test share one definition.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from byokvault.engine.importers.live import INTERVAL_ENV
from byokvault.engine.paths import BUNDLED_CATALOG, BUNDLED_RULES, data_dir

Url = Annotated[str, Field(pattern=r"^https?://")]


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    data_dir: Path = Field(default_factory=data_dir)
    catalog_dir: Path = BUNDLED_CATALOG
    rules_dir: Path = BUNDLED_RULES
    # The operator's token. None: one is generated into <data_dir>/admin_token on first start.
    admin_token: str | None = Field(default=None, min_length=16, repr=False)
    # Per provider id, a base URL that replaces the catalog's (a proxy, a local endpoint, a test
    # double). Keys are provider ids, e.g. {"openai": "http://127.0.0.1:9000/openai/v1"}.
    provider_base_urls: dict[str, Url] = {}
    upstream_timeout_s: float = Field(default=120.0, gt=0)
    upstream_connect_timeout_s: float = Field(default=10.0, gt=0)
    # Live catalog sync (api/catalog_sync.py): fetch the live sources of
    # <catalog_dir>/sources.yaml, rewrite catalog_dir, swap the new version in. None (the
    # default): off, and an admin's trigger is refused; 0: only when an admin triggers one;
    # N > 0: also every N seconds.
    catalog_sync_interval_s: float | None = Field(default=None, ge=0)
    # Freeze the heap after the catalog loads and after each swap (api/metrics.settle_heap):
    # full GC collections then skip the catalog's object graph. BYOKVAULT_GC_FREEZE=0: off.
    gc_freeze: bool = True

    @field_validator("data_dir", "catalog_dir", "rules_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Settings from BYOKVAULT_* variables; keyword overrides win."""
        env = os.environ
        values: dict[str, object] = {}
        for name, var in (
            ("catalog_dir", "BYOKVAULT_CATALOG"),
            ("rules_dir", "BYOKVAULT_RULES"),
            ("admin_token", "BYOKVAULT_ADMIN_TOKEN"),
            ("upstream_timeout_s", "BYOKVAULT_UPSTREAM_TIMEOUT"),
            ("catalog_sync_interval_s", INTERVAL_ENV),
            ("gc_freeze", "BYOKVAULT_GC_FREEZE"),
        ):
            if env.get(var):
                values[name] = env[var]
        if env.get("BYOKVAULT_PROVIDER_URLS"):
            values["provider_base_urls"] = json.loads(env["BYOKVAULT_PROVIDER_URLS"])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(values)
