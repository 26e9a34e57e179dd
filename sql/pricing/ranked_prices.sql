-- Every price row with what the selection rules (rules.sql) compare, shared by the row twin
-- (twin.sql) and the rate card (ratecard.sql): its usage key and `per` (units.yaml), the scale
-- that turns an amount per `per` units into an amount per unit (exact: `per` is a power of ten,
-- checked by engine/pricing/index.py), its specificity without the tier part (that depends on
-- the call), and a stable row index.
CREATE OR REPLACE VIEW pricing_ranked_prices AS
SELECT p.*, u.usage_key, u.per,
       (CASE u.per WHEN 1 THEN 1 WHEN 10 THEN 0.1 WHEN 100 THEN 0.01 WHEN 1000 THEN 0.001
            WHEN 10000 THEN 0.0001 WHEN 100000 THEN 0.00001 WHEN 1000000 THEN 0.000001
        END)::DECIMAL(7, 6) AS per_scale,
       -- specificity, most significant first: region, time window, then qualifiers (in the
       -- high 64 bits), then the long-context threshold (the highest crossed wins)
       ((((p.region IS NOT NULL)::INTEGER * 2 + (p.window_start IS NOT NULL)::INTEGER) * 4
         + (p.image_size IS NOT NULL)::INTEGER + (p.image_quality IS NOT NULL)::INTEGER
         + (p.video_resolution IS NOT NULL)::INTEGER)::HUGEINT << 64)
         + coalesce(p.long_context_threshold, -1) + 1 AS base_rank,
       (row_number() OVER (ORDER BY p.price_id))::BIGINT AS row_idx
FROM prices p
JOIN units u USING (dimension);
