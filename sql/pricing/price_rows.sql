-- Every price row with its unit's denomination, for building the in-memory price index
-- (engine/pricing/index.py). Column order is the PriceRow constructor's.
SELECT p.provider_id, p.model_id,
       p.price_id, p.dimension, u.usage_key, p.amount, u.per,
       p.effective_from, p.effective_to, p.service_tier, p.region,
       p.window_start, p.window_end, p.image_size, p.image_quality, p.video_resolution,
       p.long_context_threshold, p.long_context_inclusive, p.conditions_key
FROM prices p
JOIN units u USING (dimension)
ORDER BY p.provider_id, p.model_id, p.dimension, p.effective_from, p.price_id;
