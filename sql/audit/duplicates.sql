-- Check (empty = clean): double billing. An idempotency key used twice in a tenant, or one call
-- charged more than once without a reversal for each extra charge.
SELECT 'idempotency key used twice' AS problem, tenant_id, idempotency_key AS id,
       count(*) AS records, list(seq ORDER BY seq) AS seqs
FROM ledger
GROUP BY tenant_id, idempotency_key
HAVING count(*) > 1
UNION ALL
SELECT 'call charged more than once', c.tenant_id, c.call_id,
       count(*), list(c.seq ORDER BY c.seq)
FROM ledger AS c
WHERE c.kind = 'charge'
  AND c.record_id NOT IN (SELECT reverses FROM ledger WHERE kind = 'reversal')
GROUP BY c.tenant_id, c.call_id
HAVING count(*) > 1
ORDER BY problem, tenant_id, id;
