-- Every query the vault runs, by name (engine/vault/store.py loads them with sql_text()).
-- No query here ever selects a ciphertext except secret_for_decrypt and tenant_ciphertexts,
-- which feed the audited decrypt path and data-key rotation only.

-- name: applied_migrations
SELECT name FROM vault_migrations ORDER BY name;

-- name: record_migration
INSERT INTO vault_migrations (name, applied_at) VALUES (?, ?);

-- name: latest_data_key
SELECT max(dk_version) FROM vault_data_keys WHERE tenant_id = ?;

-- name: insert_data_key
INSERT INTO vault_data_keys (tenant_id, dk_version, created_at) VALUES (?, ?, ?);

-- name: insert_wrapped_key
INSERT INTO vault_wrapped_keys (tenant_id, dk_version, kek_id, wrapped, created_at)
VALUES (?, ?, ?, ?, ?);

-- name: wrapped_keys
SELECT kek_id, wrapped FROM vault_wrapped_keys WHERE tenant_id = ? AND dk_version = ?;

-- name: data_keys_missing_kek
-- Data keys with no wrapped form under the given KEK yet, and one form that can be unwrapped.
SELECT w.tenant_id, w.dk_version, list(w.kek_id), list(w.wrapped)
FROM vault_wrapped_keys w
WHERE NOT EXISTS (
    SELECT 1 FROM vault_wrapped_keys n
    WHERE n.tenant_id = w.tenant_id AND n.dk_version = w.dk_version AND n.kek_id = ?
)
GROUP BY w.tenant_id, w.dk_version
ORDER BY w.tenant_id, w.dk_version;

-- name: delete_wrapped_other_keks
-- The KEK switch: drop old forms, but only where a form under the new KEK exists (a data key
-- created under the old KEK mid-rotation keeps its only form until the next pass rewraps it).
DELETE FROM vault_wrapped_keys w
WHERE w.kek_id <> $1
  AND EXISTS (
    SELECT 1 FROM vault_wrapped_keys n
    WHERE n.tenant_id = w.tenant_id AND n.dk_version = w.dk_version AND n.kek_id = $1
  );

-- name: kek_usage
SELECT kek_id, count(*) FROM vault_wrapped_keys GROUP BY kek_id ORDER BY kek_id;

-- name: delete_data_keys_before
DELETE FROM vault_data_keys WHERE tenant_id = ? AND dk_version < ?;

-- name: delete_wrapped_keys_before
DELETE FROM vault_wrapped_keys WHERE tenant_id = ? AND dk_version < ?;

-- name: insert_credential
INSERT INTO vault_credentials (
    credential_id, tenant_id, provider_id, base_url, label, fingerprint, status, status_reason,
    secret_version, dk_version, ciphertext, created_at, updated_at, status_changed_at,
    last_checked_at
) VALUES (?, ?, ?, ?, ?, ?, 'unknown', NULL, ?, ?, ?, ?, ?, ?, NULL);

-- name: credential
SELECT credential_id, tenant_id, provider_id, base_url, label, fingerprint, status,
       status_reason, secret_version, dk_version, ciphertext IS NOT NULL AS has_secret,
       created_at, updated_at, status_changed_at, last_checked_at
FROM vault_credentials WHERE credential_id = ?;

-- name: credentials
SELECT credential_id, tenant_id, provider_id, base_url, label, fingerprint, status,
       status_reason, secret_version, dk_version, ciphertext IS NOT NULL AS has_secret,
       created_at, updated_at, status_changed_at, last_checked_at
FROM vault_credentials
WHERE tenant_id = ? AND (? IS NULL OR provider_id = ?)
ORDER BY provider_id, created_at, credential_id;

-- name: all_credentials
SELECT credential_id, tenant_id, provider_id, base_url, label, fingerprint, status,
       status_reason, secret_version, dk_version, ciphertext IS NOT NULL AS has_secret,
       created_at, updated_at, status_changed_at, last_checked_at
FROM vault_credentials
ORDER BY tenant_id, provider_id, created_at, credential_id;

-- name: secret_for_decrypt
-- The credential and every wrapped form of its data key in ONE statement: one snapshot, so a
-- concurrent rotation can never hand us a ciphertext and a key from different moments.
SELECT c.tenant_id, c.provider_id, c.status, c.secret_version, c.dk_version, c.ciphertext,
       w.kek_id, w.wrapped
FROM vault_credentials c
LEFT JOIN vault_wrapped_keys w ON w.tenant_id = c.tenant_id AND w.dk_version = c.dk_version
WHERE c.credential_id = ?;

-- name: tenant_ciphertexts
SELECT credential_id, provider_id, secret_version, dk_version, ciphertext
FROM vault_credentials WHERE tenant_id = ? AND ciphertext IS NOT NULL;

-- name: replace_secret
UPDATE vault_credentials
SET ciphertext = ?, fingerprint = ?, secret_version = ?, dk_version = ?, status = 'unknown',
    status_reason = 'secret replaced', updated_at = ?, status_changed_at = ?
WHERE credential_id = ?;

-- name: reencrypt_secret
UPDATE vault_credentials SET ciphertext = ?, dk_version = ?, updated_at = ?
WHERE credential_id = ? AND secret_version = ?;

-- name: set_status
UPDATE vault_credentials
SET status = ?, status_reason = ?, last_checked_at = ?,
    status_changed_at = CASE WHEN status = ? THEN status_changed_at ELSE ? END
WHERE credential_id = ?;

-- name: delete_credential
DELETE FROM vault_credentials WHERE credential_id = ?;

-- name: insert_access
-- Audit inserts ignore a row the table already holds: replaying the audit log after a crash
-- may repeat rows applied just before it (engine/vault/auditlog.py).
INSERT OR IGNORE INTO audit.vault_access_log
    (event_id, occurred_at, actor, tenant_id, credential_id, purpose, call_id, result, detail)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: insert_access_batch
-- One group commit's access events (an Arrow table registered as access_batch).
INSERT OR IGNORE INTO audit.vault_access_log
    (event_id, occurred_at, actor, tenant_id, credential_id, purpose, call_id, result, detail)
SELECT event_id, occurred_at, actor, tenant_id, credential_id, purpose, call_id, result, detail
FROM access_batch;

-- name: access_log
SELECT event_id, occurred_at, actor, tenant_id, credential_id, purpose, call_id, result, detail
FROM audit.vault_access_log
WHERE tenant_id = ? AND (? IS NULL OR credential_id = ?)
ORDER BY occurred_at DESC, event_id
LIMIT ?;

-- name: failures_since
SELECT count(*) FROM audit.vault_access_log
WHERE credential_id = ? AND result IN ('denied', 'failed') AND occurred_at >= ?;

-- name: insert_resolution
INSERT OR IGNORE INTO audit.vault_resolutions
    (call_id, occurred_at, tenant_id, provider_id, credential_id, fund_source, tiers)
VALUES (?, ?, ?, ?, ?, ?, ?);

-- name: insert_resolution_batch
-- One group commit's resolution rows (an Arrow table registered as resolution_batch).
INSERT OR IGNORE INTO audit.vault_resolutions
    (call_id, occurred_at, tenant_id, provider_id, credential_id, fund_source, tiers)
SELECT call_id, occurred_at, tenant_id, provider_id, credential_id, fund_source, tiers
FROM resolution_batch;

-- name: resolution_count
SELECT count(*) FROM audit.vault_resolutions;

-- name: recent_call_ids
-- The newest resolved call ids, oldest first (the vault remembers them to refuse a reuse).
SELECT call_id FROM (
    SELECT call_id, occurred_at FROM audit.vault_resolutions
    ORDER BY occurred_at DESC, call_id DESC LIMIT ?
) ORDER BY occurred_at, call_id;

-- name: resolution
SELECT call_id, occurred_at, tenant_id, provider_id, credential_id, fund_source, tiers
FROM audit.vault_resolutions WHERE call_id = ?;

-- name: insert_health_event
INSERT INTO audit.vault_health_events
    (event_id, occurred_at, credential_id, source, http_status, outcome, status, latency_ms, detail)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: health_events
SELECT occurred_at, source, http_status, outcome, status, latency_ms, detail
FROM audit.vault_health_events WHERE credential_id = ? ORDER BY occurred_at DESC LIMIT ?;

-- name: insert_alert
INSERT INTO audit.vault_alerts
    (alert_id, occurred_at, rule_id, severity, tenant_id, credential_id, call_id, message)
VALUES (?, ?, ?, ?, ?, ?, ?, ?);

-- name: alerts
SELECT alert_id, occurred_at, rule_id, severity, tenant_id, credential_id, call_id, message
FROM audit.vault_alerts WHERE (? IS NULL OR tenant_id = ?) ORDER BY occurred_at DESC, alert_id LIMIT ?;

-- name: catalog_endpoints
-- Run against the catalog's DuckDB (engine/catalog/store.py), not the vault file.
SELECT provider_id, api_style, base_url FROM providers ORDER BY provider_id;
