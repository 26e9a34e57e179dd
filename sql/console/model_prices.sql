-- Every price row of one model, history included, with its unit's denomination.
SELECT p.price_id, p.dimension, u.per, u.quantity, p.amount, p.currency, p.effective_from,
       p.effective_to, p.service_tier, p.long_context_threshold, p.long_context_inclusive,
       p.window_start, p.window_end, p.region, p.image_size, p.image_quality,
       p.video_resolution, p.conditions_key, p.source, p.recorded_at
FROM prices p JOIN units u USING (dimension)
WHERE p.provider_id = $provider AND p.model_id = $model
ORDER BY p.dimension, p.conditions_key, p.effective_from;
