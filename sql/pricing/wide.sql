-- The columnar SQL twin's tables (jinja2 template, rendered by engine/pricing/wide.py after
-- ratecard.sql). The hot query is wide_totals.sql over the usage_wide view (wide_key.sql); the
-- words of its error cases are a table here.

-- The rate card the hot query reads: per cell, each exact coefficient (ratecard.sql) as an
-- integer count of 10^-scale (durations: of 10^-(scale - 6), their quantities being counted in
-- micro-units), where scale is the decimals the cell needs (engine/pricing/wide.py computes them
-- exactly from the DECIMAL(38, 24) coefficients; BIGINT where every value fits, else
-- HUGEINT). Totals are then integer sums of products, exact, and ten times faster in
-- DuckDB than DECIMAL(38) products; `unit` (10^-scale) turns the integer back into money.
-- For the calls that fail (few), the cell also carries what names the first error: bit masks
-- (bit i: the i-th usage key of the vocabulary) of the keys with tied rows and of the keys
-- without a price, the service tier, and the model.
CREATE OR REPLACE TABLE pricing_rate_card AS
SELECT x.cell_key, x.card_key, k.model_key, x.valid_from, x.valid_to, x.tod_from, x.tod_to,
       x.lc_from, x.lc_to, x.tier_error, i.scale, i.unit, i.safe_total,
       -- (NULL where the tier is not offered: the hot query's guard then takes the slow path,
       -- which tests the tier)
       CASE WHEN NOT x.tier_error THEN i.safe_error END AS safe_error,
{%- for k in keys %}
       i.c_{{ k }}{{ "::HUGEINT AS c_" ~ k if k in wide_keys }}, x.e_{{ k }},
{%- endfor %}
       ({% for k in keys %}r.t_{{ k }}::BIGINT * {{ bit[k] }}{{ " + " if not loop.last }}{% endfor %}) AS tied_mask,
       ({% for k in keys %}(r.r_{{ k }} IS NULL)::BIGINT * {{ bit[k] }}{{ " + " if not loop.last }}{% endfor %}) AS unpriced_mask,
       r.service_tier, m.provider_id || '/' || m.model_id AS model
FROM pricing_rate_card_exact x
JOIN _rate_card_ints i USING (cell_key)
JOIN pricing_cell_rates r USING (cell_key)
JOIN pricing_cards k ON k.card_key = x.card_key
JOIN pricing_card_models m ON m.model_key = k.model_key
ORDER BY x.card_key, x.valid_from, x.tod_from, x.lc_from;

-- The cells of each model's default card (standard tier, no region, no qualifiers) with the
-- model's names: what prices most calls, found by one hash join on the names (wide_key.sql).
CREATE OR REPLACE TABLE pricing_default_cells AS
SELECT m.provider_id, m.model_id, c.*
FROM pricing_rate_card c
JOIN pricing_cards k ON k.card_key = c.card_key
JOIN pricing_card_models m ON m.model_key = k.model_key
WHERE k.service_tier = 'standard' AND k.region IS NULL AND k.image_size IS NULL
  AND k.image_quality IS NULL AND k.video_resolution IS NULL
ORDER BY c.cell_key;

-- The words of each error case (the service tier's and an unknown model's are completed with
-- the call's names by pricing_wide_totals).
CREATE OR REPLACE TABLE pricing_wide_error_cases AS
SELECT error_case::SMALLINT AS error_case, kinds[error_case] AS error_kind,
       dimensions[error_case] AS error_dimension, messages[error_case] AS message
FROM (SELECT {{ kinds }} AS kinds, {{ dimensions }} AS dimensions, {{ messages }} AS messages),
     range(1, len(kinds) + 1) r(error_case);
