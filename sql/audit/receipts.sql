-- Receipts: every record as the customer's receipt, with its frozen prices.
-- Optional filters: SET VARIABLE tenant = '...'; SET VARIABLE call_id = '...';
--                   SET VARIABLE month = DATE '2026-01-01';
SELECT seq, record_id, tenant_id, call_id, occurred_at, kind, reverses,
       provider_id, model_id, capability_class, tier, fund_source, credential_id, quote_id,
       list_transform(lines, l -> l.dimension || ' ' || l.quantity::DECIMAL(38, 6)::VARCHAR
           || ' x ' || l.unit_price::DECIMAL(38, 9)::VARCHAR || '/' || l.per::VARCHAR
           || ' (' || l.price_id || ')') AS priced_lines,
       raw_cost, margin_factor, byok_fee, billed_amount, rounded_amount, rounding_mode,
       currency, catalog_version, rules_version, row_hash
FROM ledger
WHERE (getvariable('tenant') IS NULL OR tenant_id = getvariable('tenant'))
  AND (getvariable('call_id') IS NULL OR call_id = getvariable('call_id'))
  AND (getvariable('month') IS NULL
       OR (occurred_at >= month_start(CAST(getvariable('month') AS DATE))
           AND occurred_at < month_start(CAST(getvariable('month') AS DATE) + INTERVAL 1 MONTH)))
ORDER BY seq;
