-- Convenience views over the catalog tables.

-- Prices in force now (finance can swap now() for any timestamp in their own queries).
CREATE VIEW current_prices AS
SELECT p.*, u.per, u.quantity
FROM prices p JOIN units u USING (dimension)
WHERE p.effective_from <= now() AND (p.effective_to IS NULL OR p.effective_to > now());

-- One row per model with its provider's kind and its declared capability list.
CREATE VIEW model_overview AS
SELECT m.provider_id, m.model_id, m.name, m.mode, m.capability_class, pr.kind AS provider_kind,
       m.context_window, m.max_output_tokens, m.deprecated,
       list(mc.capability ORDER BY mc.capability) FILTER (WHERE mc.declared) AS capabilities
FROM models m
JOIN providers pr USING (provider_id)
LEFT JOIN model_capabilities mc USING (provider_id, model_id)
GROUP BY ALL;
