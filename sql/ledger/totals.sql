-- Running usage per tenant and currency (reversals carry negated amounts, so they net out).
SELECT tenant_id, currency, count(*) AS records,
       sum(raw_cost) AS raw_cost, sum(billed_amount) AS billed_amount,
       sum(rounded_amount) AS rounded_amount
FROM ledger
GROUP BY tenant_id, currency;
