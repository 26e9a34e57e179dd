-- The fast path's rate cards (engine/routing/fast.py), as a script run after request.sql filled
-- `routing_request`: EVERY model priced by the pricing twin (through routing_priced) at a unit
-- usage of the request's usage keys (quantity 1 each), once more per long-context tier it has,
-- with input tokens at the smallest count crossing that tier's threshold ("rep"). The twin's
-- line amounts are linear in the quantity (amount × leaf / per, no rounding), so the fast path
-- scales these unit lines to any request's quantities exactly; the tier a request falls in is
-- the model's largest rep not above its input tokens. One query per (usage keys, price
-- context, time interval) serves every capability set, policy and fund source.
-- The usage_columns placeholder is filled as in route.sql.

CREATE OR REPLACE TEMP TABLE routing_probes AS
WITH reps AS (
    SELECT provider_id, model_id, 0 AS rep FROM routing_models
    UNION
    -- cliffs are crossed by input tokens: without them no threshold can matter
    SELECT x.provider_id, x.model_id,
           x.long_context_threshold + CASE WHEN x.long_context_inclusive THEN 0 ELSE 1 END
    FROM prices x CROSS JOIN routing_request p
    WHERE x.long_context_threshold IS NOT NULL AND p.usage['input_tokens'] IS NOT NULL
)
SELECT row_number() OVER (ORDER BY provider_id, model_id, rep) AS call_id, provider_id,
       model_id, rep
FROM reps;

DELETE FROM temp.usage_input;

INSERT INTO temp.usage_input BY NAME
SELECT r.call_id, r.provider_id, r.model_id, p.at AS "at", p.tier AS service_tier,
       p.image_size, p.image_quality,
       {usage_columns}
FROM routing_probes r
CROSS JOIN routing_request p;

UPDATE temp.usage_input SET input_tokens = greatest(r.rep, 1)
FROM routing_probes r
WHERE r.call_id = usage_input.call_id AND usage_input.input_tokens <> 0;

SELECT r.provider_id, r.model_id, r.rep, c.price_problem, coalesce(c.line_items, []) AS line_items
FROM routing_probes r
JOIN routing_priced c USING (call_id)
ORDER BY r.call_id;
