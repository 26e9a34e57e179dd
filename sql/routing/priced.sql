-- Each call of the connection's `usage_input` priced by the pricing twin, as routing reads it:
-- the exact total, the line items in key order, and the price problem as a reason code
-- ('unpriced:<dimension>' or 'ambiguous_price:<dimension>'; NULL when it prices fully).
-- Read by route.sql (one call per eligible model) and rates.sql (the fast path's rate cards).
-- Installed after the twin (engine/routing/route.py); `usage_input` resolves to the querying
-- connection's TEMP table, which shadows the shared one.
CREATE OR REPLACE VIEW routing_priced AS
WITH lines AS (
    SELECT call_id,
           list({'dimension': dimension, 'usage_key': usage_key, 'quantity': quantity,
                 'unit_price': unit_price, 'per': per, 'amount': amount, 'price_id': price_id}
                ORDER BY key_order) AS line_items
    FROM pricing_line_items
    GROUP BY call_id
)
SELECT u.call_id, u.provider_id, u.model_id, t.total, l.line_items,
       CASE WHEN t.error_kind = 'ambiguous' THEN 'ambiguous_price:' || t.error_dimension
            WHEN t.error_kind IS NOT NULL THEN 'unpriced:' || t.error_dimension
       END AS price_problem
FROM usage_input u
JOIN pricing_totals t USING (call_id)
LEFT JOIN lines l USING (call_id);
