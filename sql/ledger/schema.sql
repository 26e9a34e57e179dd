-- The billing ledger: one row per acknowledged BillingRecord, append-only.
-- Money is DECIMAL(38, 24), stored unrounded (the rounded amount is its own column).
-- Column order matches engine/ledger/rows.py ARROW_SCHEMA (inserts are BY NAME anyway).
-- No statement in this project updates or deletes a row: corrections are reversal records.

CREATE TABLE IF NOT EXISTS ledger (
    seq                      BIGINT PRIMARY KEY,           -- gap-free, starts at 1
    record_id                VARCHAR NOT NULL,
    recorded_at              TIMESTAMPTZ NOT NULL,         -- when the writer committed it
    kind                     VARCHAR NOT NULL CHECK (kind IN ('charge', 'reversal')),
    reverses                 VARCHAR,                      -- record_id of the corrected charge
    reason                   VARCHAR,
    tenant_id                VARCHAR NOT NULL,
    call_id                  VARCHAR NOT NULL,
    idempotency_key          VARCHAR NOT NULL,
    occurred_at              TIMESTAMPTZ NOT NULL,         -- when the call happened (prices in force)
    provider_id              VARCHAR NOT NULL,
    model_id                 VARCHAR NOT NULL,
    capability_class         VARCHAR NOT NULL,
    tier                     VARCHAR NOT NULL,
    fund_source              VARCHAR NOT NULL CHECK (fund_source IN ('byok', 'platform', 'local')),
    credential_id            VARCHAR,                      -- an id, never a secret
    credential_resolution_id VARCHAR,                      -- the vault's resolution row for the call
    quote_id                 VARCHAR,
    usage                    STRUCT(dimension VARCHAR, quantity DECIMAL(38, 24))[] NOT NULL,
    lines                    STRUCT(
                                 dimension      VARCHAR,
                                 price_id       VARCHAR,
                                 unit_price     DECIMAL(38, 24),
                                 per            BIGINT,
                                 quantity       DECIMAL(38, 24),
                                 amount         DECIMAL(38, 24),
                                 effective_from TIMESTAMPTZ
                             )[] NOT NULL,
    raw_cost                 DECIMAL(38, 24) NOT NULL,
    margin_factor            DECIMAL(38, 24),
    byok_fee                 DECIMAL(38, 24),
    billed_amount            DECIMAL(38, 24) NOT NULL,
    rounded_amount           DECIMAL(38, 24) NOT NULL,
    rounding_mode            VARCHAR NOT NULL,
    rounding_quantum         DECIMAL(38, 24) NOT NULL,
    currency                 VARCHAR NOT NULL,
    catalog_version          VARCHAR NOT NULL,
    rules_version            VARCHAR NOT NULL,
    prev_hash                VARCHAR NOT NULL,
    row_hash                 VARCHAR NOT NULL,
    UNIQUE (tenant_id, idempotency_key)
);

-- One row per sealed Parquet segment, mirroring the manifest (a second copy to check it against).
CREATE TABLE IF NOT EXISTS ledger_seals (
    first_seq   BIGINT PRIMARY KEY,
    last_seq    BIGINT NOT NULL,
    file        VARCHAR NOT NULL,
    sha256      VARCHAR NOT NULL,
    rows        BIGINT NOT NULL,
    prev_hash   VARCHAR NOT NULL,
    chain_head  VARCHAR NOT NULL
);
