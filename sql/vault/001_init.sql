-- Vault schema v1. Applied once by engine/vault/store.py and recorded in vault_migrations.
-- Secrets are stored only as AES-GCM ciphertext; data keys only wrapped under a KEK.

-- One data key per tenant and version; its wrapped forms live in vault_wrapped_keys.
CREATE TABLE vault_data_keys (
    tenant_id   VARCHAR NOT NULL,
    dk_version  INTEGER NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, dk_version)
);

-- A data key wrapped under one KEK. During a KEK rotation a data key has two rows (old and new
-- KEK); the switch deletes the old rows in one transaction, so a reader always finds a form
-- its keyring can open.
CREATE TABLE vault_wrapped_keys (
    tenant_id   VARCHAR NOT NULL,
    dk_version  INTEGER NOT NULL,
    kek_id      VARCHAR NOT NULL,
    wrapped     BLOB NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, dk_version, kek_id)
);

CREATE TABLE vault_credentials (
    credential_id     VARCHAR PRIMARY KEY,
    tenant_id         VARCHAR NOT NULL,
    provider_id       VARCHAR NOT NULL,
    base_url          VARCHAR,            -- set for local endpoints (and overrides)
    label             VARCHAR NOT NULL,
    fingerprint       VARCHAR,            -- last 4 characters of the secret, NULL if none
    status            VARCHAR NOT NULL
        CHECK (status IN ('active', 'revoked', 'rate_limited', 'provider_outage', 'unknown')),
    status_reason     VARCHAR,
    secret_version    INTEGER NOT NULL,
    dk_version        INTEGER,            -- NULL when there is no secret (local endpoint)
    ciphertext        BLOB,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    status_changed_at TIMESTAMPTZ NOT NULL,
    last_checked_at   TIMESTAMPTZ
);

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
