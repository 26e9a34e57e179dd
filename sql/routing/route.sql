-- The route, as a script run after request.sql filled `routing_request` (one row). It returns
-- every model: eligible ones first, ranked cheapest first, each with its exclusion reasons,
-- fund source and estimated cost. Costs come from the pricing engine's SQL twin
-- (sql/pricing/twin.sql, read through sql/routing/priced.sql): the eligible models' estimated usages are written to the
-- connection's own TEMP `usage_input` (it shadows the shared table, so cursors on other threads
-- never see each other's rows) and priced by `pricing_line_items` / `pricing_totals`.
-- A limit the catalog does not state (NULL) is not checked. A needed dimension without a price
-- (the twin's `unpriced` / `ambiguous` errors) excludes the model: never ranked as cheap.
-- Ties break on provider_id, then model_id, so the order is total and repeatable.
-- The usage_columns placeholder is filled from engine/pricing/usage.py's USAGE_KEYS (engine/routing/route.py).

CREATE OR REPLACE TEMP TABLE routing_filtered AS
WITH required AS (
    SELECT unnest(caps) AS capability FROM routing_request
),
missing AS (
    SELECT m.provider_id, m.model_id,
           list('missing_capability:' || r.capability ORDER BY r.capability) AS reasons
    FROM routing_models m
    CROSS JOIN required r
    ANTI JOIN routing_capabilities c
        ON c.provider_id = m.provider_id AND c.model_id = m.model_id
       AND c.capability = r.capability
    GROUP BY m.provider_id, m.model_id
),
funded AS (
    SELECT m.*,
           CASE
               WHEN m.provider_kind = 'local' THEN
                   CASE WHEN list_contains(p.local_endpoints, m.provider_id) THEN 'local' END
               WHEN list_contains(p.byok, m.provider_id) THEN 'byok'
               WHEN NOT p.byok_only AND list_contains(p.platform, m.provider_id) THEN 'platform'
           END AS fund_source
    FROM routing_models m CROSS JOIN routing_request p
)
SELECT f.provider_id, f.model_id, f.provider_kind, f.fund_source,
       list_concat(
           coalesce(x.reasons, []::VARCHAR[]),
           list_filter([
               CASE WHEN f.context_window < p.input_tokens + coalesce(p.output_tokens, 0)
                    THEN 'context_too_small' END,
               CASE WHEN f.max_output_tokens < p.output_tokens THEN 'output_too_small' END,
               CASE WHEN f.max_images_per_request < p.images THEN 'too_many_images' END,
               CASE WHEN f.retired <= p.at_date THEN 'retired' END,
               CASE WHEN NOT p.allow_deprecated AND f.deprecated <= p.at_date
                         AND NOT coalesce(f.retired <= p.at_date, false)
                    THEN 'deprecated' END,
               CASE WHEN list_contains(p.blocked, f.provider_id)
                         OR NOT coalesce(list_contains(p.allowed, f.provider_id), true)
                    THEN 'policy_blocked' END,
               CASE WHEN f.fund_source IS NULL THEN 'no_usable_credential' END
           ], r -> r IS NOT NULL)
       ) AS reasons
FROM funded f
CROSS JOIN routing_request p
LEFT JOIN missing x USING (provider_id, model_id);

DELETE FROM temp.usage_input;

-- One estimated call per eligible model (call_id numbers them).
INSERT INTO temp.usage_input BY NAME
SELECT row_number() OVER (ORDER BY f.provider_id, f.model_id) AS call_id,
       f.provider_id, f.model_id, p.at AS "at", p.tier AS service_tier,
       p.image_size, p.image_quality,
       {usage_columns}
FROM routing_filtered f
CROSS JOIN routing_request p
WHERE len(f.reasons) = 0
  AND (p.only_models IS NULL OR list_contains(p.only_models, f.provider_id || '/' || f.model_id));

WITH judged AS (
    SELECT f.provider_id, f.model_id, f.provider_kind, f.fund_source,
           c.total AS cost,
           coalesce(c.line_items, []) AS line_items,
           list_concat(
               f.reasons,
               list_filter([
                   c.price_problem,
                   CASE WHEN c.total > p.max_price THEN 'over_max_price' END
               ], r -> r IS NOT NULL)
           ) AS reasons,
           p.local_first AND f.provider_kind = 'local' AS local_preferred
    FROM routing_filtered f
    CROSS JOIN routing_request p
    LEFT JOIN routing_priced c USING (provider_id, model_id)
)
SELECT provider_id, model_id, provider_kind, fund_source, reasons, cost, line_items
FROM judged
-- Candidates: local first when the policy says so, then cheapest, then by id. Exclusions: by id.
ORDER BY len(reasons) > 0,
         CASE WHEN len(reasons) = 0 AND local_preferred THEN 0 ELSE 1 END,
         CASE WHEN len(reasons) = 0 THEN cost END,
         provider_id, model_id;
