-- Check (empty = clean): corrections that do not cancel what they claim to.
WITH rev AS (
    SELECT r.seq, r.record_id, r.reverses, o.record_id AS original, o.kind AS original_kind,
           r.tenant_id <> o.tenant_id AS other_tenant,
           r.billed_amount + o.billed_amount AS billed_left,
           r.raw_cost + o.raw_cost AS raw_left,
           count(*) OVER (PARTITION BY r.reverses) AS times
    FROM ledger AS r
    LEFT JOIN ledger AS o ON o.record_id = r.reverses
    WHERE r.kind = 'reversal'
)
SELECT seq, record_id, reverses,
       CASE
           WHEN original IS NULL THEN 'reverses a record not in the ledger'
           WHEN original_kind <> 'charge' THEN 'reverses a reversal'
           WHEN other_tenant THEN 'reverses another tenant''s record'
           WHEN times > 1 THEN 'record reversed more than once'
           WHEN billed_left <> 0 OR raw_left <> 0 THEN 'amounts do not cancel the original'
       END AS problem
FROM rev
WHERE problem IS NOT NULL
ORDER BY seq;
