-- Routing tables derived once per catalog load (see engine/routing/route.py).
-- routing_mode_capabilities is filled from engine/routing/requirements.py MODE_CAPABILITIES
-- before this file runs.

-- What each model can do: its capability closure, plus the base capability its mode stands for
-- (a chat model chats even when its catalog entry lists only its extras).
CREATE OR REPLACE TABLE routing_capabilities AS
SELECT provider_id, model_id, capability FROM model_capabilities
UNION
SELECT m.provider_id, m.model_id, mc.capability
FROM models m JOIN routing_mode_capabilities mc USING (mode);

-- One row per model with what the filters read, so a route touches one narrow table.
CREATE OR REPLACE TABLE routing_models AS
SELECT m.provider_id, m.model_id, p.kind AS provider_kind, m.context_window,
       m.max_output_tokens, m.max_images_per_request, m.deprecated, m.retired
FROM models m JOIN providers p USING (provider_id)
ORDER BY m.provider_id, m.model_id;

-- A DECIMAL(38, 18) amount as an exact integer of 1e-18 units (HUGEINT), for exact sums and
-- comparisons of money without DuckDB's decimal division (which yields DOUBLE).
CREATE OR REPLACE MACRO routing_e18(x) AS
    CAST(floor(x) AS HUGEINT) * CAST(1000000000000000000 AS HUGEINT)
    + CAST((x - floor(x)) * 1000000000000000000 AS HUGEINT);
