-- Margin realized per capability class and month on platform-funded calls: billed − raw cost
-- (what the platform charged minus what the provider charged it). BYOK fees: see byok_vs_platform.
SELECT capability_class,
       utc_month(occurred_at) AS month,
       currency,
       count(*) AS records,
       sum(raw_cost) AS raw_cost,
       sum(billed_amount) AS billed_amount,
       sum(billed_amount) - sum(raw_cost) AS margin,
       CASE WHEN sum(raw_cost) = 0 THEN NULL
            ELSE round((sum(billed_amount) - sum(raw_cost)) / sum(raw_cost) * 100, 2)
       END AS margin_pct
FROM ledger
WHERE fund_source = 'platform'
GROUP BY ALL
ORDER BY capability_class, month, currency;
