-- A tenant's most recent ledger rows (receipts), newest first. $tenant, $limit, $before_seq.
SELECT *
FROM ledger
WHERE tenant_id = $tenant AND ($before_seq IS NULL OR seq < $before_seq)
ORDER BY seq DESC
LIMIT $limit;
