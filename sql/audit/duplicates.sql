-- Check (empty = clean): double billing. An idempotency key used twice in a tenant, or one call
-- charged more than once without a reversal for each extra charge.
WITH key_dupes AS (
    SELECT tenant_id, idempotency_key AS id, count(*) AS records, list(seq ORDER BY seq) AS seqs
    FROM ledger
    GROUP BY tenant_id, idempotency_key
    HAVING count(*) > 1
),
charged_twice AS (  -- candidates (rare): calls with more than one charge
    SELECT tenant_id, call_id
    FROM ledger
    WHERE kind = 'charge'
    GROUP BY tenant_id, call_id
    HAVING count(*) > 1
),
open_charges AS (  -- the candidates' charges no reversal cancels
    SELECT c.tenant_id, c.call_id, c.seq
    FROM ledger AS c
    SEMI JOIN charged_twice AS t ON t.tenant_id = c.tenant_id AND t.call_id = c.call_id
    WHERE c.kind = 'charge'
      AND c.record_id NOT IN (SELECT reverses FROM ledger WHERE kind = 'reversal')
)
SELECT 'idempotency key used twice' AS problem, tenant_id, id, records, seqs
FROM key_dupes
UNION ALL
SELECT 'call charged more than once', tenant_id, call_id, count(*), list(seq ORDER BY seq)
FROM open_charges
GROUP BY tenant_id, call_id
HAVING count(*) > 1
ORDER BY problem, tenant_id, id;
