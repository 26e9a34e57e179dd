-- What the fast path (engine/routing/fast.py) keeps in memory per catalog version: one row per
-- model, in route.sql's tie-break order, with what its filters read (capabilities, limits,
-- lifecycle dates, provider kind).
SELECT m.provider_id, m.model_id, m.provider_kind, m.context_window, m.max_output_tokens,
       m.max_images_per_request, m.deprecated, m.retired,
       coalesce((SELECT list(c.capability ORDER BY c.capability) FROM routing_capabilities c
                 WHERE c.provider_id = m.provider_id AND c.model_id = m.model_id),
                []) AS capabilities
FROM routing_models m
ORDER BY m.provider_id, m.model_id;
