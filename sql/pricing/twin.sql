{% import "pricing/rules.sql" as rules -%}
-- The SQL twin of engine/pricing/cost.py: prices every row of `usage_input` (usage_input.sql)
-- against the catalog tables (`prices`, `units`, `models`), with the same rules, tested to agree
-- EXACTLY with the Python cost function on 100k random usages. A jinja2 template: the selection
-- rules are the macros of rules.sql (shared with the rate card, ratecard.sql), over the
-- `pricing_ranked_prices` view (ranked_prices.sql). Install with
-- engine.pricing.twin.install(con) (it also writes the vocabulary tables read here,
-- `pricing_usage_keys` and `pricing_usage_parts`, from engine/pricing/usage.py;
-- twin.rendered_sql() shows the SQL it runs), then:
--
--   SELECT * FROM pricing_totals;      -- one row per call: exact total, or the error stopping it
--   SELECT * FROM pricing_line_items;  -- one row per charged dimension of each priced call
--
-- Selection (the prose is in cost.py): rows in force at `at`; eligible by tier (the call's or
-- standard), region (the call's or none), UTC time window, qualifiers and crossed long-context
-- threshold; the most specific wins, compared by tier, region, window, qualifiers, highest
-- threshold; equally specific rows are an ambiguity error. Each token is charged once, at its
-- most specific priced key (parts are taken out of their wholes).

-- Calls that cannot be priced at all: unknown model, or a service tier the model does not offer.
CREATE OR REPLACE VIEW pricing_call_errors AS
SELECT u.call_id, 0 AS error_class, 0 AS error_order, 'unknown_model' AS error_kind,
       NULL::VARCHAR AS error_dimension,
       'unknown model ' || u.model_id || ' for provider ' || u.provider_id AS error
FROM usage_input u
ANTI JOIN models m ON m.provider_id = u.provider_id AND m.model_id = u.model_id
UNION ALL
SELECT u.call_id, 1, 0, 'unpriced', 'service_tier=' || u.service_tier,
       u.provider_id || '/' || u.model_id || ': the model has no ' || u.service_tier
           || ' prices in force'
FROM usage_input u
WHERE u.service_tier <> 'standard'
  AND EXISTS (SELECT 1 FROM models m WHERE m.provider_id = u.provider_id AND m.model_id = u.model_id)
  AND NOT EXISTS (
    SELECT 1 FROM prices p
    WHERE p.provider_id = u.provider_id AND p.model_id = u.model_id
      AND p.service_tier = u.service_tier
      AND p.effective_from <= u.at AND (p.effective_to IS NULL OR u.at < p.effective_to));

-- One row per call and used key: the chosen row, the charged quantity (leaf), the amount, and
-- the key's own error if any.
CREATE OR REPLACE VIEW pricing_call_keys AS
WITH used AS MATERIALIZED (
    -- usage_input unpivoted to the keys a call uses, with the call's context
    SELECT *
    FROM (
        UNPIVOT (
            SELECT call_id, provider_id, model_id, "at",
                   ("at" AT TIME ZONE 'UTC')::TIME AS time_of_day,
                   service_tier, region, image_size, image_quality, video_resolution,
                   input_tokens AS context_input_tokens,
                   COLUMNS(* EXCLUDE (call_id, provider_id, model_id, "at", service_tier, region,
                                      image_size, image_quality, video_resolution))
                       ::DECIMAL(18, 6)
            FROM usage_input
        )
        ON COLUMNS(* EXCLUDE (call_id, provider_id, model_id, "at", time_of_day, service_tier,
                              region, image_size, image_quality, video_resolution,
                              context_input_tokens))
        INTO NAME usage_key VALUE quantity
    )
    WHERE quantity <> 0
),
candidates AS (
    -- every price row that can apply to the call's key (the rules: rules.sql), ranked
    SELECT u.call_id, u.usage_key, r.row_idx,
           {{ rules.packed_ranks("r", "u") }}
    FROM used u
    JOIN pricing_ranked_prices r
      ON r.provider_id = u.provider_id AND r.model_id = u.model_id AND r.usage_key = u.usage_key
    WHERE {{ rules.row_applies("r", "u", at="u.at", time_of_day="u.time_of_day",
                               input_tokens="u.context_input_tokens") }}
),
chosen AS (
    -- the most specific row, and whether another ties with it
    SELECT call_id, usage_key,
           {{ rules.chosen_row() }}
    FROM candidates GROUP BY call_id, usage_key
),
keyed AS MATERIALIZED (
    SELECT u.call_id, u.provider_id, u.model_id, u.usage_key, u.quantity,
           k.depth, k.is_part, k.is_root, k.falls_back, k.key_order, k.leaf_order,
           c.row_idx, coalesce(c.tied, false) AS tied,
           -- charged at its own rate when priced; roots and independent keys always are
           (c.row_idx IS NOT NULL OR k.is_root OR NOT k.is_part) AS charged
    FROM used u
    JOIN pricing_usage_keys k USING (usage_key)
    LEFT JOIN chosen c USING (call_id, usage_key)
),
-- What the charged parts take out of each of their wholes (few rows: only calls using parts).
from3 AS (
    SELECT c.call_id, pt.whole AS usage_key, sum(c.quantity) AS taken
    FROM keyed c JOIN pricing_usage_parts pt ON pt.part = c.usage_key
    WHERE c.charged AND c.depth = 3
    GROUP BY c.call_id, pt.whole
),
level2 AS (
    SELECT c.call_id, c.usage_key, c.quantity - coalesce(t.taken, 0) AS leaf
    FROM keyed c
    LEFT JOIN from3 t USING (call_id, usage_key)
    WHERE c.charged AND c.depth = 2
),
from23 AS (
    SELECT l.call_id, pt.whole AS usage_key, sum(l.leaf) AS taken
    FROM (
        SELECT call_id, usage_key, leaf FROM level2
        UNION ALL
        SELECT call_id, usage_key, quantity FROM keyed WHERE charged AND depth = 3
    ) l
    JOIN pricing_usage_parts pt ON pt.part = l.usage_key
    GROUP BY l.call_id, pt.whole
),
-- Each key's charged quantity (its leaf): the deepest keys whole, the others minus what their
-- charged parts took. The joins probe small tables only.
leafed AS (
    SELECT k.*,
           CASE WHEN NOT k.charged THEN NULL
                WHEN k.depth = 3 THEN k.quantity
                WHEN k.depth = 2 THEN k.quantity - coalesce(t3.taken, 0)
                ELSE k.quantity - coalesce(t23.taken, 0) END AS leaf
    FROM keyed k
    -- (equality-only joins: a depth test in ON would turn them into nested loops)
    LEFT JOIN from3 t3 ON t3.call_id = k.call_id AND t3.usage_key = k.usage_key
    LEFT JOIN from23 t23 ON t23.call_id = k.call_id AND t23.usage_key = k.usage_key
)
SELECT k.call_id, k.provider_id, k.model_id, k.usage_key, k.key_order, k.quantity, k.leaf,
       r.price_id, r.dimension, r.amount AS unit_price, r.per,
       r.amount * k.leaf * r.per_scale AS amount,
       r.effective_from, r.conditions_key AS conditions,
       -- the key's own error: 2 ambiguous, 3 an unpriced part, 4 an unpriced charged key
       CASE WHEN k.tied THEN 2
            WHEN NOT k.charged AND NOT k.falls_back THEN 3
            WHEN k.charged AND r.price_id IS NULL AND k.leaf > 0
                 AND k.usage_key <> 'requests' THEN 4 END AS error_class,
       CASE WHEN k.tied OR NOT k.charged THEN k.key_order ELSE k.leaf_order END AS error_order,
       CASE WHEN k.tied THEN 'ambiguous' ELSE 'unpriced' END AS error_kind,
       k.provider_id || '/' || k.model_id || ': ' || CASE
           WHEN k.tied THEN 'several ' || k.usage_key || ' rows apply equally'
           WHEN NOT k.charged THEN k.usage_key || ' is unpriced: this part has no price of its own'
           ELSE k.usage_key || ' is unpriced: no price row applies' END AS error
FROM leafed k
LEFT JOIN pricing_ranked_prices r ON r.row_idx = k.row_idx;

-- One row per charged dimension of each call that prices fully.
CREATE OR REPLACE VIEW pricing_line_items AS
WITH keys AS MATERIALIZED (SELECT * FROM pricing_call_keys),
failed AS (
    SELECT call_id FROM keys WHERE error_class IS NOT NULL
    UNION SELECT call_id FROM pricing_call_errors
)
SELECT call_id, provider_id, model_id, usage_key, dimension, price_id, unit_price, per,
       leaf AS quantity, amount, effective_from, conditions, key_order
FROM keys
ANTI JOIN failed USING (call_id)
WHERE price_id IS NOT NULL AND leaf <> 0;

-- One row per call: the exact total (unrounded), or NULL and the first error (the one the
-- Python cost function raises).
CREATE OR REPLACE VIEW pricing_totals AS
WITH keys AS MATERIALIZED (SELECT * FROM pricing_call_keys),
errors AS (
    SELECT call_id, error_class, error_order, error_kind, usage_key AS error_dimension, error
    FROM keys WHERE error_class IS NOT NULL
    UNION ALL
    SELECT * FROM pricing_call_errors
),
first_error AS (
    -- arg_min over a struct: arg_min of a column would skip a NULL dimension
    SELECT call_id, arg_min({'kind': error_kind, 'dimension': error_dimension, 'error': error},
                            (error_class, error_order)) AS e
    FROM errors GROUP BY call_id
),
sums AS (
    SELECT call_id, sum(amount) FILTER (WHERE price_id IS NOT NULL AND leaf <> 0) AS total
    FROM keys GROUP BY call_id
)
SELECT u.call_id, u.provider_id, u.model_id, u."at",
       CASE WHEN f.call_id IS NULL THEN coalesce(s.total, 0) END AS total,
       'USD' AS currency, f.e.kind AS error_kind, f.e.dimension AS error_dimension,
       f.e.error AS error
FROM usage_input u
LEFT JOIN sums s USING (call_id)
LEFT JOIN first_error f USING (call_id);
