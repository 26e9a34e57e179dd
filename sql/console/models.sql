-- The catalog model list (console browser and API). Parameters (NULL = no filter, no limit):
--   $provider, $capability, $modality, $max_input_price (per unit's `per`, e.g. per 1M tokens).
-- Shown prices are the standard-tier base rows in force at $at (no long-context tier, region or
-- time window): a display figure, not a quote; quotes come from the pricing engine.
WITH base AS (
    SELECT provider_id, model_id, dimension, amount
    FROM prices
    WHERE effective_from <= $at AND (effective_to IS NULL OR effective_to > $at)
      AND service_tier = 'standard' AND long_context_threshold IS NULL
      AND region IS NULL AND window_start IS NULL
      AND image_size IS NULL AND image_quality IS NULL AND video_resolution IS NULL
),
headline AS (
    SELECT provider_id, model_id,
           min(amount) FILTER (WHERE dimension = 'input_tokens') AS input_price,
           min(amount) FILTER (WHERE dimension = 'output_tokens') AS output_price,
           count(*) AS priced_dimensions
    FROM base GROUP BY ALL
)
SELECT m.provider_id, m.model_id, m.name, m.mode, m.capability_class, pr.kind AS provider_kind,
       m.context_window, m.input_modalities, m.output_modalities, m.deprecated,
       h.input_price, h.output_price, coalesce(h.priced_dimensions, 0) AS priced_dimensions
FROM models m
JOIN providers pr USING (provider_id)
LEFT JOIN headline h USING (provider_id, model_id)
WHERE ($provider IS NULL OR m.provider_id = $provider)
  AND ($modality IS NULL OR list_contains(m.input_modalities, $modality)
       OR list_contains(m.output_modalities, $modality))
  AND ($capability IS NULL OR EXISTS (
        SELECT 1 FROM model_capabilities c
        WHERE c.provider_id = m.provider_id AND c.model_id = m.model_id
          AND c.capability = $capability))
  AND ($max_input_price IS NULL OR h.input_price <= $max_input_price)
ORDER BY m.provider_id, m.model_id
LIMIT $limit;
