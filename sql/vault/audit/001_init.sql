-- Vault audit store v1 (a separate DuckDB file, ATTACHed as `audit`): the access log,
-- resolutions, health events and alerts. It holds ids and outcomes, never key material, and is
-- never compacted, so its size does not slow a re-key.

-- Append-only: the vault never updates or deletes these rows.
CREATE TABLE vault_access_log (
    event_id       VARCHAR PRIMARY KEY,
    occurred_at    TIMESTAMPTZ NOT NULL,
    actor          VARCHAR NOT NULL,
    tenant_id      VARCHAR NOT NULL,
    credential_id  VARCHAR NOT NULL,
    purpose        VARCHAR,
    call_id        VARCHAR,
    result         VARCHAR NOT NULL CHECK (result IN ('opened', 'denied', 'failed')),
    detail         VARCHAR
);

-- One row per call: which tiers were tried, which credential answered, who pays.
CREATE TABLE vault_resolutions (
    call_id        VARCHAR PRIMARY KEY,
    occurred_at    TIMESTAMPTZ NOT NULL,
    tenant_id      VARCHAR NOT NULL,
    provider_id    VARCHAR NOT NULL,
    credential_id  VARCHAR,
    fund_source    VARCHAR NOT NULL CHECK (fund_source IN ('byok', 'platform', 'local', 'none')),
    tiers          VARCHAR NOT NULL       -- JSON list of {tier, credential_id, outcome, reason}
);

CREATE TABLE vault_health_events (
    event_id       VARCHAR PRIMARY KEY,
    occurred_at    TIMESTAMPTZ NOT NULL,
    credential_id  VARCHAR NOT NULL,
    source         VARCHAR NOT NULL CHECK (source IN ('probe', 'call')),
    http_status    INTEGER,
    outcome        VARCHAR NOT NULL,
    status         VARCHAR NOT NULL,
    latency_ms     DOUBLE,
    detail         VARCHAR
);

CREATE TABLE vault_alerts (
    alert_id       VARCHAR PRIMARY KEY,
    occurred_at    TIMESTAMPTZ NOT NULL,
    rule_id        VARCHAR NOT NULL,
    severity       VARCHAR NOT NULL,
    tenant_id      VARCHAR NOT NULL,
    credential_id  VARCHAR,
    call_id        VARCHAR,
    message        VARCHAR NOT NULL
);
