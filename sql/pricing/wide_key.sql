-- Keys usage_input (usage_input.sql: string model names and context) for the columnar twin
-- (wide.sql): each call gets the integer key of its model's card for its context, where the
-- context is normalized per model (a region, size, quality or resolution the model's rows do not
-- name prices as none). Calls that cannot be keyed go to usage_wide_rejects with the error the
-- Python cost function raises. Both tables are re-created (no deleted rows left behind).
-- (jinja2 template, rendered by engine/pricing/wide.py.)
CREATE OR REPLACE TABLE usage_wide AS
WITH keyed AS (
    SELECT u.*, c.card_key
    FROM usage_input u
    JOIN pricing_card_models m USING (provider_id, model_id)
{%- for kind in ("region", "image_size", "image_quality", "video_resolution") %}
    LEFT JOIN pricing_model_values v_{{ kind }}
      ON v_{{ kind }}.model_key = m.model_key AND v_{{ kind }}.kind = '{{ kind }}'
     AND v_{{ kind }}.value = u.{{ kind }}
{%- endfor %}
    JOIN pricing_cards c
      ON c.model_key = m.model_key AND c.service_tier = u.service_tier
{%- for kind in ("region", "image_size", "image_quality", "video_resolution") %}
     AND c.{{ kind }} IS NOT DISTINCT FROM v_{{ kind }}.value
{%- endfor %}
)
SELECT call_id, card_key::INTEGER AS card_key, "at",
       ((epoch_us("at") % 86400000000) + 86400000000) % 86400000000 AS tod_us,
{%- for k in keys %}
       {% if k in fractional %}({{ k }} * 1000000)::BIGINT AS {{ k }}{% else %}{{ k }}{% endif %}{{ "," if not loop.last }}
{%- endfor %}
FROM keyed;

CREATE OR REPLACE TABLE usage_wide_rejects AS
SELECT u.call_id, 'unknown_model' AS error_kind, NULL::VARCHAR AS error_dimension,
       'unknown model ' || u.model_id || ' for provider ' || u.provider_id AS error
FROM usage_input u
ANTI JOIN pricing_card_models m USING (provider_id, model_id)
UNION ALL
SELECT u.call_id, 'unpriced', 'service_tier=' || u.service_tier,
       u.provider_id || '/' || u.model_id || ': the model has no ' || u.service_tier
           || ' prices in force'
FROM usage_input u
JOIN pricing_card_models m USING (provider_id, model_id)
ANTI JOIN pricing_cards c ON c.model_key = m.model_key AND c.service_tier = u.service_tier;
