-- Every model with the non-price reasons it cannot serve a request, and who would pay for it.
-- An empty `reasons` list means eligible (before pricing). Parameters:
--   $caps VARCHAR[]           required capabilities (a model's closure must hold each one)
--   $input_tokens BIGINT      estimated input tokens
--   $output_tokens BIGINT     requested output cap, NULL when the request sets none
--   $images BIGINT            image parts in the request
--   $at TIMESTAMPTZ           the decision's time (lifecycle dates compare to its UTC date)
--   $byok, $platform, $local VARCHAR[]   the tenant's fund sources (engine/routing/decision.py)
--   $byok_only BOOLEAN, $allowed VARCHAR[] (NULL = all), $blocked VARCHAR[],
--   $allow_deprecated BOOLEAN            the tenant's policy (rules/policy.yaml)
-- A limit the catalog does not state (NULL) is not checked.
WITH required AS (
    SELECT unnest($caps::VARCHAR[]) AS capability
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
                   CASE WHEN list_contains($local::VARCHAR[], m.provider_id) THEN 'local' END
               WHEN list_contains($byok::VARCHAR[], m.provider_id) THEN 'byok'
               WHEN NOT $byok_only AND list_contains($platform::VARCHAR[], m.provider_id)
                   THEN 'platform'
           END AS fund_source
    FROM routing_models m
)
SELECT f.provider_id, f.model_id, f.provider_kind, f.fund_source,
       list_concat(
           coalesce(x.reasons, []::VARCHAR[]),
           list_filter([
               CASE WHEN f.context_window < $input_tokens + coalesce($output_tokens, 0)
                    THEN 'context_too_small' END,
               CASE WHEN f.max_output_tokens < $output_tokens THEN 'output_too_small' END,
               CASE WHEN f.max_images_per_request < $images THEN 'too_many_images' END,
               CASE WHEN f.retired <= CAST(timezone('UTC', $at::TIMESTAMPTZ) AS DATE)
                    THEN 'retired' END,
               CASE WHEN NOT $allow_deprecated
                         AND f.deprecated <= CAST(timezone('UTC', $at::TIMESTAMPTZ) AS DATE)
                         AND NOT coalesce(
                             f.retired <= CAST(timezone('UTC', $at::TIMESTAMPTZ) AS DATE), false)
                    THEN 'deprecated' END,
               CASE WHEN list_contains($blocked::VARCHAR[], f.provider_id)
                         OR NOT coalesce(list_contains($allowed::VARCHAR[], f.provider_id), true)
                    THEN 'policy_blocked' END,
               CASE WHEN f.fund_source IS NULL THEN 'no_usable_credential' END
           ], r -> r IS NOT NULL)
       ) AS reasons
FROM funded f
LEFT JOIN missing x USING (provider_id, model_id)
ORDER BY f.provider_id, f.model_id
