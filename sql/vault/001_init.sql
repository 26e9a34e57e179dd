-- Vault key store v1: data keys, wrapped keys, credentials. Applied once by
-- engine/vault/store.py and recorded in vault_migrations. This file is kept small on purpose:
-- re-key and rotations compact it (copy to a fresh file) so replaced ciphertext leaves no bytes.
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
