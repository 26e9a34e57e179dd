{% import "pricing/rules.sql" as rules -%}
-- The rate card: the pricing rules of engine/pricing/cost.py evaluated ONCE per catalog version
-- (jinja2 template, rendered by engine/pricing/wide.py over the usage vocabulary of
-- engine/pricing/usage.py). Read by the columnar twin (wide.sql), which prices a whole usage
-- table as one sum of products per call.
--
-- The rules depend on a call's facts piecewise: which rows are in force changes only at the
-- model's effective_from / effective_to instants, which time window applies only at window
-- edges, which long-context tier only at thresholds. So a model's facts are cut into CELLS
-- (validity interval x time-of-day segment x input-token band), per CARD (the model under one
-- context its rows tell apart: service tier, region, image size/quality, video resolution), and
-- the rules are applied once per cell at its first point, exactly as twin.sql applies them to a
-- call. Within a cell the charged quantities (leaves) are linear in the usage, so the cell's
-- total is sum(coefficient_k * quantity_k) and its error test is sum(e_k * quantity_k) > 0 (every
-- term of the latter is >= 0 for a valid usage: an ambiguous or unpriced key used, or an unpriced
-- root's leaf left over). The coefficients come from engine/pricing/wide.py's expansion of the
-- leaf recursion over the "part of" relation.

-- An integer key per model.
CREATE OR REPLACE TABLE pricing_card_models AS
SELECT (row_number() OVER (ORDER BY provider_id, model_id))::INTEGER AS model_key,
       provider_id, model_id
FROM models;

-- The context values each model's rows tell apart; any other value prices as "none".
CREATE OR REPLACE TABLE pricing_model_values AS
WITH p AS (SELECT m.model_key, p.* FROM prices p JOIN pricing_card_models m USING (provider_id, model_id))
SELECT DISTINCT model_key, kind, value FROM (
    SELECT model_key, 'service_tier' AS kind, service_tier AS value FROM p
    UNION ALL SELECT model_key, 'region', region FROM p
    UNION ALL SELECT model_key, 'image_size', image_size FROM p
    UNION ALL SELECT model_key, 'image_quality', image_quality FROM p
    UNION ALL SELECT model_key, 'video_resolution', video_resolution FROM p
)
WHERE value IS NOT NULL AND NOT (kind = 'service_tier' AND value = 'standard');

-- One card per model and context it tells apart (standard / none always included).
CREATE OR REPLACE TABLE pricing_cards AS
WITH opts AS (
    SELECT model_key, 'service_tier' AS kind, 'standard' AS value FROM pricing_card_models
    UNION ALL
    SELECT model_key, k.kind, NULL FROM pricing_card_models,
           (VALUES ('region'), ('image_size'), ('image_quality'), ('video_resolution')) k(kind)
    UNION ALL
    SELECT model_key, kind, value FROM pricing_model_values
)
SELECT (row_number() OVER (ORDER BY t.model_key, t.value, r.value NULLS FIRST,
        s.value NULLS FIRST, q.value NULLS FIRST, v.value NULLS FIRST))::INTEGER AS card_key,
       t.model_key, t.value AS service_tier, r.value AS region, s.value AS image_size,
       q.value AS image_quality, v.value AS video_resolution
FROM opts t
JOIN opts r ON r.model_key = t.model_key AND r.kind = 'region'
JOIN opts s ON s.model_key = t.model_key AND s.kind = 'image_size'
JOIN opts q ON q.model_key = t.model_key AND q.kind = 'image_quality'
JOIN opts v ON v.model_key = t.model_key AND v.kind = 'video_resolution'
WHERE t.kind = 'service_tier';

-- Every price row (pricing_ranked_prices: ranked_prices.sql) with its model key and its rate per
-- unit (amount / per, exact).
CREATE OR REPLACE TABLE pricing_card_rows AS
SELECT m.model_key, r.*, r.amount * r.per_scale AS rate
FROM pricing_ranked_prices r
JOIN pricing_card_models m USING (provider_id, model_id);

-- The cells: each card's facts cut at every edge of its model's rows. A cell's first point
-- (valid_from, tod_start, lc_from) stands for the whole cell.
CREATE OR REPLACE TABLE pricing_cells AS
WITH instants AS (
    SELECT model_key, '-infinity'::TIMESTAMPTZ AS t FROM pricing_card_models
    UNION SELECT model_key, effective_from FROM pricing_card_rows
    UNION SELECT model_key, effective_to FROM pricing_card_rows WHERE effective_to IS NOT NULL
),
intervals AS (
    SELECT model_key, t AS valid_from,
           coalesce(lead(t) OVER (PARTITION BY model_key ORDER BY t), 'infinity') AS valid_to
    FROM instants
),
edges AS (
    SELECT model_key, TIME '00:00:00' AS t FROM pricing_card_models
    UNION SELECT model_key, window_start FROM pricing_card_rows WHERE window_start IS NOT NULL
    UNION SELECT model_key, window_end FROM pricing_card_rows WHERE window_end IS NOT NULL
),
segments AS (
    SELECT model_key, t AS tod_start,
           epoch_us(DATE '1970-01-01' + t) AS tod_from,
           coalesce(epoch_us(DATE '1970-01-01'
                             + lead(t) OVER (PARTITION BY model_key ORDER BY t)),
                    86400000000) AS tod_to
    FROM edges
),
cuts AS (
    SELECT model_key, 0::BIGINT AS b FROM pricing_card_models
    UNION SELECT model_key, long_context_threshold + (NOT long_context_inclusive)::INTEGER
    FROM pricing_card_rows WHERE long_context_threshold IS NOT NULL
),
bands AS (
    SELECT model_key, b AS lc_from,
           coalesce(lead(b) OVER (PARTITION BY model_key ORDER BY b), 9223372036854775807)
               AS lc_to
    FROM cuts
)
SELECT (row_number() OVER (ORDER BY c.card_key, i.valid_from, s.tod_from, b.lc_from))::INTEGER
           AS cell_key,
       c.card_key, c.model_key, c.service_tier, c.region, c.image_size, c.image_quality,
       c.video_resolution, i.valid_from, i.valid_to, s.tod_start, s.tod_from, s.tod_to,
       b.lc_from, b.lc_to
FROM pricing_cards c
JOIN intervals i USING (model_key)
JOIN segments s USING (model_key)
JOIN bands b USING (model_key);

-- The row each cell charges per usage key (the most specific that applies at the cell's first
-- point: the rules of rules.sql, as twin.sql chooses for a call), and whether two rows tie.
CREATE OR REPLACE TABLE pricing_cell_choices AS
WITH candidates AS (
    SELECT c.cell_key, r.usage_key, r.row_idx,
           {{ rules.packed_ranks("r", "c") }}
    FROM pricing_cells c
    JOIN pricing_card_rows r ON r.model_key = c.model_key
    WHERE {{ rules.row_applies("r", "c", at="c.valid_from", time_of_day="c.tod_start",
                               input_tokens="c.lc_from") }}
)
SELECT cell_key, usage_key,
       {{ rules.chosen_row() }}
FROM candidates
GROUP BY cell_key, usage_key;

-- Per cell: each key's rate (NULL: unpriced), tie flag and chosen row, and whether the cell's
-- service tier is offered (a tier other than standard needs a row of its own in force).
CREATE OR REPLACE TABLE pricing_cell_rates AS
SELECT c.cell_key, c.card_key, c.service_tier, c.valid_from, c.valid_to, c.tod_from, c.tod_to,
       c.lc_from, c.lc_to,
       c.service_tier <> 'standard' AND NOT EXISTS (
           SELECT 1 FROM pricing_card_rows r
           WHERE r.model_key = c.model_key AND r.service_tier = c.service_tier
             AND r.effective_from <= c.valid_from
             AND (r.effective_to IS NULL OR c.valid_from < r.effective_to)) AS tier_error,
{%- for k in keys %}
       max(r.rate) FILTER (WHERE ch.usage_key = '{{ k }}') AS r_{{ k }},
       coalesce(bool_or(ch.tied) FILTER (WHERE ch.usage_key = '{{ k }}'), false) AS t_{{ k }},
       max(ch.row_idx) FILTER (WHERE ch.usage_key = '{{ k }}') AS i_{{ k }}{{ "," if not loop.last }}
{%- endfor %}
FROM pricing_cells c
LEFT JOIN pricing_cell_choices ch USING (cell_key)
LEFT JOIN pricing_card_rows r USING (row_idx)
GROUP BY ALL;

-- The rate card: per cell, the coefficient of each quantity in the total (exact, at the scale
-- of the finest rate: DECIMAL(38, 24) covers any DECIMAL(38,18) amount per up to 10^6 units) and
-- in the error test.
CREATE OR REPLACE TABLE pricing_rate_card_exact AS
SELECT cell_key, card_key, valid_from, valid_to, tod_from, tod_to, lc_from, lc_to, tier_error,
{%- for k in keys %}
       ({{ coefficient[k] }})::DECIMAL(38, 24) AS c_{{ k }},
       ({{ error_weight[k] }})::INTEGER AS e_{{ k }}{{ "," if not loop.last }}
{%- endfor %}
FROM pricing_cell_rates;
