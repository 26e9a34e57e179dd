-- BYOK vs platform (vs local) per month: calls, provider cost, what the platform billed.
-- For BYOK the provider cost is the tenant's own; the platform's revenue is the fee.
WITH monthly AS (
    SELECT utc_month(occurred_at) AS month,
           fund_source, currency,
           count(*) AS records,
           sum(raw_cost) AS raw_cost,
           sum(billed_amount) AS billed_amount
    FROM ledger
    GROUP BY ALL
)
SELECT month, fund_source, currency, records, raw_cost, billed_amount,
       round(records * 100.0 / sum(records) OVER (PARTITION BY month), 2) AS pct_of_calls
FROM monthly
ORDER BY month, fund_source, currency;
