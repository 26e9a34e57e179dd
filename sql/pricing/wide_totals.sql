-- The columnar SQL twin's hot query (jinja2 template, rendered by engine/pricing/wide.py when
-- usage_wide is keyed, over the usage keys its calls use): prices every call of usage_wide in
-- one pass, a join on the card key and the cell's ranges, then the total as a sum of integer
-- coefficient * quantity (BIGINT where the cell proves it fits, else HUGEINT), scaled by
-- the cell's unit. Tested to agree EXACTLY with the Python cost function (engine/pricing/cost.py)
-- on 100k random usages.
--
--   SELECT * FROM pricing_wide_totals;  -- call_id, total (unrounded) | error_kind, error
CREATE OR REPLACE VIEW pricing_wide_totals AS
SELECT call_id,
       CASE WHEN NOT failed THEN units::DECIMAL(38, 0) * unit END AS total,
       'USD' AS currency,
       -- the first error, as the Python cost function raises it (only for calls that fail):
       -- its position in the ordered list of cases (1: the service tier), then its words
       CASE WHEN failed THEN {{ kinds }}[error_case] END AS error_kind,
       CASE WHEN failed THEN CASE WHEN error_case = 1 THEN 'service_tier=' || service_tier
                                  ELSE {{ dimensions }}[error_case] END END AS error_dimension,
       CASE WHEN failed THEN model || ': ' || CASE
           WHEN error_case = 1 THEN 'the model has no ' || service_tier || ' prices in force'
           ELSE {{ messages }}[error_case] END END AS error
FROM (
    SELECT call_id, failed, units, unit, model, service_tier,
           CASE WHEN failed THEN CASE
{%- for condition in conditions %}
               WHEN {{ condition }} THEN {{ loop.index }}
{%- endfor %}
           END END AS error_case
    FROM (
        SELECT u.*, c.unit, c.model, c.service_tier, c.tier_error, c.tied_mask, c.unpriced_mask,
               -- BIGINT sums where the cell proves they fit (nearly always), else HUGEINT
               c.tier_error OR CASE WHEN {{ largest_watched }} <= c.safe_error
                                    THEN ({{ error_sum }}) > 0
                                    ELSE ({{ error_sum_wide }}) > 0 END AS failed,
               CASE WHEN {{ largest }} <= c.safe_total
                    THEN ({{ total_sum }})::HUGEINT
                    ELSE {{ total_sum_wide }} END AS units
        FROM usage_wide u
        JOIN pricing_rate_card c
          ON c.card_key = u.card_key
         AND u."at" >= c.valid_from AND u."at" < c.valid_to
         AND u.tod_us >= c.tod_from AND u.tod_us < c.tod_to
         AND u.input_tokens >= c.lc_from AND u.input_tokens < c.lc_to
    ) x
) p
UNION ALL
SELECT call_id, NULL, 'USD', error_kind, error_dimension, error FROM usage_wide_rejects;
