-- Stored records for a batch of (tenant, idempotency key) pairs (registered as ledger_probe).
SELECT l.*
FROM ledger AS l
SEMI JOIN ledger_probe AS p ON l.tenant_id = p.tenant_id AND l.idempotency_key = p.key
ORDER BY l.seq;
