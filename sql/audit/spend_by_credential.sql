-- Spend per credential (an id, never a secret): which key paid for what.
SELECT tenant_id, fund_source, credential_id, provider_id, currency,
       count(*) AS records,
       sum(raw_cost) AS raw_cost,
       sum(billed_amount) AS billed_amount,
       min(occurred_at) AS first_call,
       max(occurred_at) AS last_call
FROM ledger
GROUP BY ALL
ORDER BY tenant_id, fund_source, credential_id, provider_id, currency;
