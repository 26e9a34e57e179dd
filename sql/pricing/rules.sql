{#- The selection rules of engine/pricing/cost.py, written ONCE as SQL for the row twin
    (twin.sql: a price row against a call) and the rate card (ratecard.sql: a price row against
    a cell's first point). jinja2 macros over pricing_ranked_prices rows (ranked_prices.sql),
    imported by both templates; engine/pricing/sqlrender.py renders them. In the arguments, `r`
    is the price row's alias, `x` the alias of what is priced (its service_tier, region,
    image_size, image_quality, video_resolution columns), and `at`, `time_of_day`,
    `input_tokens` its instant, UTC time of day and input tokens. -#}

{#- Whether price row r can apply: in force at `at`; the call's service tier or standard; the
    call's region or none; a UTC time window [start, end) holding the time of day (wrapping
    past midnight when end < start) or none; each qualifier the call's or none; a long-context
    threshold crossed (input tokens > threshold, or >= when inclusive) or none. -#}
{% macro row_applies(r, x, at, time_of_day, input_tokens) -%}
{{ r }}.effective_from <= {{ at }}
      AND ({{ r }}.effective_to IS NULL OR {{ at }} < {{ r }}.effective_to)
      AND ({{ r }}.service_tier = {{ x }}.service_tier OR {{ r }}.service_tier = 'standard')
      AND ({{ r }}.region IS NULL OR {{ r }}.region = {{ x }}.region)
      AND ({{ r }}.window_start IS NULL OR CASE
               WHEN {{ r }}.window_start < {{ r }}.window_end
               THEN {{ time_of_day }} >= {{ r }}.window_start AND {{ time_of_day }} < {{ r }}.window_end
               ELSE {{ time_of_day }} >= {{ r }}.window_start OR {{ time_of_day }} < {{ r }}.window_end END)
      AND ({{ r }}.image_size IS NULL OR {{ r }}.image_size = {{ x }}.image_size)
      AND ({{ r }}.image_quality IS NULL OR {{ r }}.image_quality = {{ x }}.image_quality)
      AND ({{ r }}.video_resolution IS NULL OR {{ r }}.video_resolution = {{ x }}.video_resolution)
      AND ({{ r }}.long_context_threshold IS NULL
           OR {{ input_tokens }} > {{ r }}.long_context_threshold
           OR ({{ r }}.long_context_inclusive AND {{ input_tokens }} = {{ r }}.long_context_threshold))
{%- endmacro %}

{#- The most specific applicable row wins: its rank packed in one integer (the call's own tier
    over standard, then base_rank), with the row index below it twice: ascending (packed_hi)
    and descending (packed_lo), so that chosen_row() can tell a tie. -#}
{% macro packed_ranks(r, x) -%}
((((({{ r }}.service_tier = {{ x }}.service_tier)::INTEGER::HUGEINT << 72) + {{ r }}.base_rank) << 32)
            + {{ r }}.row_idx) AS packed_hi,
           ((((({{ r }}.service_tier = {{ x }}.service_tier)::INTEGER::HUGEINT << 72) + {{ r }}.base_rank) << 32)
            + (4294967295 - {{ r }}.row_idx)) AS packed_lo
{%- endmacro %}

{#- Over the candidates of one key (an aggregate): the chosen row, and whether another row of
    the same rank applies too (the largest and smallest row index among the most specific
    differ exactly then: an ambiguous catalog). -#}
{% macro chosen_row() -%}
(max(packed_hi) & 4294967295)::BIGINT AS row_idx,
           (max(packed_hi) & 4294967295) <> 4294967295 - (max(packed_lo) & 4294967295) AS tied
{%- endmacro %}
