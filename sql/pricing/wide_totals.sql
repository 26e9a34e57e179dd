-- The columnar SQL twin's hot query (jinja2 template, rendered by engine/pricing/wide.py when
-- usage_input is keyed, over the usage keys its calls use): prices every call of usage_input in
-- one pass — each call with its rate card cell (the usage_wide view: for most calls one hash
-- join on the model names and the cell's ranges), then the total as a sum of integer
-- coefficient * quantity (BIGINT where the cell proves it fits, else HUGEINT), scaled by the
-- cell's unit. Tested to agree EXACTLY with the Python cost function (engine/pricing/cost.py)
-- on 100k random usages.
--
--   SELECT * FROM pricing_wide_priced;  -- call_id, total (unrounded) | error_case: what a bulk
--                                         -- reprice writes (no strings: a fifth of its cost)
--   SELECT * FROM pricing_wide_totals;  -- the same with currency and the error in words
--   SELECT * FROM pricing_wide_error_cases;  -- error_case -> error_kind, error_dimension, message

{#- the view reads no key no call used when it was generated: fail loudly if one does now #}
{%- macro unused_guard(nulls) %}
{%- for k in unused %}
UNION ALL
SELECT call_id,{% for n in nulls %} {{ n }},{% endfor %}
       error('usage_input uses {{ k }}, which the wide twin''s views were generated without: '
             || 'call engine.pricing.wide.key_usages(con) again')
FROM usage_input WHERE {{ k }} <> 0
{%- endfor %}
{%- endmacro %}

-- Each call's integer total (units of its cell's unit) and, for the calls that fail (few), the
-- position of its first error in the ordered list of cases (engine/pricing/wide.py:
-- first_error_cases).
CREATE OR REPLACE VIEW pricing_wide_units AS
SELECT call_id, provider_id, model_id, service_tier, failed, units, unit,
       CASE WHEN failed THEN CASE
{%- for condition in conditions %}
           WHEN {{ condition }} THEN {{ loop.index }}
{%- endfor %}
       END END::SMALLINT AS error_case
FROM (
    SELECT x.*,
           -- BIGINT sums where the cell proves they fit (nearly always), else HUGEINT; no
           -- cell, or a tier not offered (its safe_error is NULL), fail on the slow path
           CASE WHEN {{ largest_watched }} <= x.safe_error
                THEN ({{ error_sum }}) > 0
                ELSE x.cell_key IS NULL OR x.tier_error OR ({{ error_sum_wide }}) > 0 END AS failed,
           CASE WHEN {{ largest }} <= x.safe_total
                THEN ({{ total_sum }})::HUGEINT
                ELSE {{ total_sum_wide }} END AS units
    FROM usage_wide x
) x;

-- The hot relation: the total, or the error's case (its words: pricing_wide_error_cases).
CREATE OR REPLACE VIEW pricing_wide_priced AS
SELECT call_id, CASE WHEN NOT failed THEN units::DECIMAL(38, 0) * unit END AS total, error_case
FROM pricing_wide_units
{{- unused_guard(["NULL"]) }};

-- For finance: the total with its currency, and the first error in words, as the Python cost
-- function raises it (only for calls that fail).
CREATE OR REPLACE VIEW pricing_wide_totals AS
SELECT call_id,
       CASE WHEN NOT failed THEN units::DECIMAL(38, 0) * unit END AS total,
       'USD' AS currency,
       CASE WHEN failed THEN {{ kinds }}[error_case] END AS error_kind,
       CASE WHEN failed THEN CASE WHEN error_case = {{ tier_case }} THEN 'service_tier=' || service_tier
                                  ELSE {{ dimensions }}[error_case] END END AS error_dimension,
       CASE WHEN failed THEN CASE
           WHEN error_case = {{ unknown_case }}
           THEN 'unknown model ' || model_id || ' for provider ' || provider_id
           WHEN error_case = {{ tier_case }}
           THEN provider_id || '/' || model_id || ': the model has no ' || service_tier
                || ' prices in force'
           ELSE provider_id || '/' || model_id || ': ' || {{ messages }}[error_case] END END AS error
FROM pricing_wide_units
{{- unused_guard(["NULL", "'USD'", "NULL", "NULL"]) }};
