-- The route: every model, eligible ones first and ranked cheapest first, each with its
-- exclusion reasons, fund source and estimated cost. One parameter, $request, a JSON object
-- (one JSON string binds in ~0.1 ms; each separate DuckDB parameter costs about as much):
--   caps [str]             required capabilities (a model's closure must hold each one)
--   input_tokens int       estimated input tokens
--   output_tokens int|null requested output cap; null: output limits unchecked
--   images int             image parts in the request
--   at str                 ISO-8601 instant; prices in force then, lifecycle dates vs its UTC date
--   usage [{usage_key, quantity}]   estimated usage (engine/routing/requirements.py)
--   tier str               service tier of the prices
--   byok, platform, local [str]     the tenant's fund sources (engine/routing/decision.py)
--   byok_only bool, allowed [str]|null, blocked [str], allow_deprecated bool, local_first bool,
--   max_price str|null     the tenant's policy (rules/policy.yaml); max_price a decimal string
-- A limit the catalog does not state (NULL) is not checked. A needed dimension without a price
-- row excludes the model (unpriced:<dimension>): unpriced never ranks as cheap. Money is exact:
-- *_e24 columns are integers of 1e-24 USD. Ties break on provider_id, then model_id.
WITH params AS (
    SELECT CAST(j->'caps' AS VARCHAR[]) AS caps,
           CAST(j->>'input_tokens' AS BIGINT) AS input_tokens,
           CAST(j->>'output_tokens' AS BIGINT) AS output_tokens,
           CAST(j->>'images' AS BIGINT) AS images,
           CAST(j->>'at' AS TIMESTAMPTZ) AS at,
           CAST(timezone('UTC', CAST(j->>'at' AS TIMESTAMPTZ)) AS DATE) AS at_date,
           CAST(j->'usage' AS STRUCT(usage_key VARCHAR, quantity BIGINT)[]) AS usage,
           j->>'tier' AS tier,
           CAST(j->'byok' AS VARCHAR[]) AS byok,
           CAST(j->'platform' AS VARCHAR[]) AS platform,
           CAST(j->'local' AS VARCHAR[]) AS local_endpoints,
           CAST(j->>'byok_only' AS BOOLEAN) AS byok_only,
           CAST(j->'allowed' AS VARCHAR[]) AS allowed,
           CAST(j->'blocked' AS VARCHAR[]) AS blocked,
           CAST(j->>'allow_deprecated' AS BOOLEAN) AS allow_deprecated,
           CAST(j->>'local_first' AS BOOLEAN) AS local_first,
           CAST(j->>'max_price' AS DECIMAL(38, 18)) AS max_price
    FROM (SELECT CAST($request AS JSON) AS j)
),
required AS (
    SELECT unnest(caps) AS capability FROM params
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
    FROM routing_models m CROSS JOIN params p
),
filtered AS (
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
    CROSS JOIN params p
    LEFT JOIN missing x USING (provider_id, model_id)
),
-- Pricing of the estimated usage for the eligible models (see price section notes below).
need AS (
    SELECT e.provider_id, e.model_id, u.usage_key, un.dimension, un.per, u.quantity
    FROM filtered e
    CROSS JOIN (SELECT unnest(usage, recursive := true) FROM params) u
    JOIN units un ON un.usage_key = u.usage_key
    WHERE len(e.reasons) = 0
),
-- INTERIM price selection, until the pricing engine's SQL twin (sql/pricing/) lands and
-- replaces this CTE: rows in force at `at`, the requested service tier, rows without region /
-- time-window / qualifier conditions, the long-context cliff on the input tokens.
lines AS (
    SELECT n.*, pr.price_id, pr.amount AS unit_price,
           routing_e18(pr.amount) * n.quantity * CAST(1000000 // n.per AS HUGEINT)
               AS amount_e24
    FROM need n
    CROSS JOIN params p
    LEFT JOIN prices pr
        ON pr.provider_id = n.provider_id AND pr.model_id = n.model_id
       AND pr.dimension = n.dimension
       AND pr.effective_from <= p.at AND (pr.effective_to IS NULL OR pr.effective_to > p.at)
       AND pr.service_tier = p.tier
       AND pr.region IS NULL AND pr.window_start IS NULL
       AND pr.image_size IS NULL AND pr.image_quality IS NULL AND pr.video_resolution IS NULL
       AND (pr.long_context_threshold IS NULL
            OR p.input_tokens > pr.long_context_threshold
            OR (pr.long_context_inclusive AND p.input_tokens = pr.long_context_threshold))
    QUALIFY row_number() OVER (
        PARTITION BY n.provider_id, n.model_id, n.dimension
        ORDER BY pr.long_context_threshold DESC NULLS LAST
    ) = 1
),
costs AS (
    SELECT provider_id, model_id,
           sum(amount_e24) FILTER (WHERE price_id IS NOT NULL) AS cost_e24,
           list({'dimension': dimension, 'usage_key': usage_key, 'quantity': quantity,
                 'unit_price': unit_price, 'per': per, 'amount_e24': amount_e24,
                 'price_id': price_id}
                ORDER BY dimension) FILTER (WHERE price_id IS NOT NULL) AS line_items,
           list('unpriced:' || dimension ORDER BY dimension) FILTER (WHERE price_id IS NULL)
               AS unpriced
    FROM lines
    GROUP BY provider_id, model_id
),
judged AS (
    SELECT f.provider_id, f.model_id, f.provider_kind, f.fund_source,
           CASE WHEN len(f.reasons) = 0 THEN coalesce(c.cost_e24, 0) END AS cost_e24,
           coalesce(c.line_items, []) AS line_items,
           list_concat(
               f.reasons,
               coalesce(c.unpriced, []::VARCHAR[]),
               CASE WHEN len(f.reasons) = 0 AND c.unpriced IS NULL AND p.max_price IS NOT NULL
                         AND coalesce(c.cost_e24, 0)
                             > routing_e18(p.max_price) * CAST(1000000 AS HUGEINT)
                    THEN ['over_max_price'] ELSE []::VARCHAR[] END
           ) AS reasons,
           p.local_first AND f.provider_kind = 'local' AS local_preferred
    FROM filtered f
    CROSS JOIN params p
    LEFT JOIN costs c USING (provider_id, model_id)
)
SELECT provider_id, model_id, provider_kind, fund_source, reasons, cost_e24, line_items
FROM judged
-- Candidates: local first when the policy says so, then cheapest, then by id. Exclusions: by id.
ORDER BY len(reasons) > 0,
         CASE WHEN len(reasons) = 0 AND local_preferred THEN 0 ELSE 1 END,
         CASE WHEN len(reasons) = 0 THEN cost_e24 END,
         provider_id, model_id
