-- The columnar SQL twin's tables (jinja2 template, rendered by engine/pricing/wide.py after
-- ratecard.sql). The hot query is wide_totals.sql over the usage_wide view (wide_key.sql).

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
       x.lc_from, x.lc_to, x.tier_error, i.scale, i.unit, i.safe_total, i.safe_error,
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
