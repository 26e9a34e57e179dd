-- A tenant's spend per day, capability class, provider and fund source ($tenant).
-- Reversals carry negative amounts, so sums are net of corrections.
SELECT CAST(date_trunc('day', occurred_at) AS DATE) AS day, capability_class, provider_id,
       fund_source, count(*) AS records, sum(raw_cost) AS raw_cost,
       sum(billed_amount) AS billed_amount
FROM ledger
WHERE tenant_id = $tenant
GROUP BY ALL
ORDER BY day, capability_class, provider_id, fund_source;
