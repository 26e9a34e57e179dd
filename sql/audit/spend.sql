-- Spend by tenant, month (UTC), capability class and provider. Reversals net out (negative).
-- Optional filter: SET VARIABLE tenant = '...';
SELECT tenant_id,
       utc_month(occurred_at) AS month,
       capability_class, provider_id, currency,
       count(*) FILTER (WHERE kind = 'charge') AS charges,
       count(*) FILTER (WHERE kind = 'reversal') AS reversals,
       sum(raw_cost) AS raw_cost,
       sum(billed_amount) AS billed_amount,
       sum(rounded_amount) AS rounded_amount
FROM ledger
WHERE getvariable('tenant') IS NULL OR tenant_id = getvariable('tenant')
GROUP BY ALL
ORDER BY tenant_id, month, capability_class, provider_id, currency;
