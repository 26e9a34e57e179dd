-- Keys usage_input (usage_input.sql: string model names and context) for the columnar twin, as
-- a VIEW: each call with the rate card cell (wide.sql) that holds it. The keying runs inside the
-- pricing query (wide_totals.sql), in the same pass over usage_input; nothing is written.
-- A call's card is its model's card for its context, the context normalized per model (a
-- region, size, quality or resolution the model's rows do not name prices as none); its cell,
-- the one whose validity interval, time-of-day segment and input-token band hold the call.
-- Only the usage keys some call uses are read and carried through the joins (the others are 0,
-- added after them; wide_totals.sql fails loudly if a call uses one later). (jinja2 template, rendered by engine/pricing/wide.py.)
{#- the keys read and carried through the joins: the used ones, and input_tokens (the bands) #}
{%- set carried = [] %}
{%- for k in keys if k in used or k == "input_tokens" %}{% set _ = carried.append(k) %}{% endfor %}
{%- set call_columns -%}
u.call_id, u.provider_id, u.model_id, u.service_tier
{%- for k in keys %}, {{ "u." ~ k if k in carried else "0::BIGINT AS " ~ k }}{% endfor %}
{%- endset %}
{%- macro cell_columns(model_key, card_key) -%}
{{ model_key }} AS model_key, {{ card_key }} AS card_key, c.cell_key, c.tier_error, c.unit, c.safe_total,
           c.safe_error, c.tied_mask, c.unpriced_mask{% for k in used %}, c.c_{{ k }}, c.e_{{ k }}{% endfor %}
{%- endmacro %}
CREATE OR REPLACE VIEW usage_wide AS
WITH calls AS NOT MATERIALIZED (
    SELECT call_id, provider_id, model_id, "at", service_tier,
{%- for kind in qualifiers %} {{ kind }},{% endfor %}
           ((epoch_us("at") % 86400000000) + 86400000000) % 86400000000 AS tod_us,
{%- for k in carried %}
{%- if k in fractional %}
           -- micro-units (converting a DECIMAL(38, 6) costs: only the non-zero ones are)
           CASE WHEN {{ k }} = 0 THEN 0 ELSE ({{ k }} * 1000000)::BIGINT END AS {{ k }}{{ "," if not loop.last }}
{%- else %}
           {{ k }}{{ "," if not loop.last }}
{%- endif %}
{%- endfor %}
    FROM usage_input
),
special AS NOT MATERIALIZED (
    -- the calls of a context other than the common one (standard tier, no region, no
    -- qualifiers), by the first way they differ: each filter is one the scan applies itself
    -- (an OR of them would read every column of every call first), and a qualifier no call
    -- has is skipped from the column's statistics
    SELECT * FROM calls u WHERE u.service_tier <> 'standard'
{%- for kind in qualifiers %}
    UNION ALL
    SELECT * FROM calls u
    WHERE u.service_tier = 'standard'
{%- for before in qualifiers[:loop.index0] %} AND u.{{ before }} IS NULL{% endfor %}
      AND u.{{ kind }} IS NOT NULL
{%- endfor %}
)
-- the common context: straight to the cells of the model's default card, one hash join on the
-- names. No cell: an unknown model (or a negative input_tokens, which no cell holds).
SELECT {{ call_columns }},
       {{ cell_columns("c.model_key", "c.card_key") }}
FROM calls u
LEFT JOIN pricing_default_cells c
  ON c.provider_id = u.provider_id AND c.model_id = u.model_id
 AND u."at" >= c.valid_from AND u."at" < c.valid_to
 AND u.tod_us >= c.tod_from AND u.tod_us < c.tod_to
 AND u.input_tokens >= c.lc_from AND u.input_tokens < c.lc_to
WHERE {{ common_context }}
UNION ALL
-- any other context (few calls): the model, the card of its normalized context (none: a
-- service tier the model has no prices for), then the cell
SELECT {{ call_columns }},
       {{ cell_columns("m.model_key", "k.card_key") }}
FROM special u
LEFT JOIN pricing_card_models m USING (provider_id, model_id)
{%- for kind in qualifiers %}
LEFT JOIN pricing_model_values v_{{ kind }}
  ON v_{{ kind }}.model_key = m.model_key AND v_{{ kind }}.kind = '{{ kind }}'
 AND v_{{ kind }}.value = u.{{ kind }}
{%- endfor %}
LEFT JOIN pricing_cards k
  ON k.model_key = m.model_key AND k.service_tier = u.service_tier
{%- for kind in qualifiers %}
 AND k.{{ kind }} IS NOT DISTINCT FROM v_{{ kind }}.value
{%- endfor %}
LEFT JOIN pricing_rate_card c
  ON c.card_key = k.card_key
 AND u."at" >= c.valid_from AND u."at" < c.valid_to
 AND u.tod_us >= c.tod_from AND u.tod_us < c.tod_to
 AND u.input_tokens >= c.lc_from AND u.input_tokens < c.lc_to;
