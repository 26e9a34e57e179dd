-- The migrations ledger itself (always applied first, idempotently).
CREATE TABLE IF NOT EXISTS vault_migrations (
    name        VARCHAR PRIMARY KEY,
    applied_at  TIMESTAMPTZ NOT NULL
);
