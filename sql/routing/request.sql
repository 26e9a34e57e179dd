-- The request's parameters as a one-row temp table read by route.sql. One parameter, $request,
-- a JSON object (one JSON string binds in ~0.1 ms; each separate DuckDB parameter costs about
-- as much):
--   caps [str]             required capabilities (a model's closure must hold each one)
--   input_tokens int       estimated input tokens
--   output_tokens int|null requested output cap; null: output limits unchecked
--   images int             image parts in the request
--   at str                 ISO-8601 instant; prices in force then, lifecycle dates vs its UTC date
--   usage {key: quantity}  estimated usage (engine/routing/requirements.py), pricing's key names
--   tier, image_size, image_quality str|null   price-selecting context
--   byok, platform, local [str]     the tenant's fund sources (engine/routing/decision.py)
--   byok_only bool, allowed [str]|null, blocked [str], allow_deprecated bool, local_first bool,
--   max_price str|null     the tenant's policy (rules/policy.yaml); max_price a decimal string
--   only [str]|null        price only these 'provider/model' (the fast path's tier probes)
CREATE OR REPLACE TEMP TABLE routing_request AS
SELECT CAST(j->'caps' AS VARCHAR[]) AS caps,
       CAST(j->>'input_tokens' AS BIGINT) AS input_tokens,
       CAST(j->>'output_tokens' AS BIGINT) AS output_tokens,
       CAST(j->>'images' AS BIGINT) AS images,
       CAST(j->>'at' AS TIMESTAMPTZ) AS at,
       CAST(timezone('UTC', CAST(j->>'at' AS TIMESTAMPTZ)) AS DATE) AS at_date,
       CAST(j->'usage' AS MAP(VARCHAR, BIGINT)) AS usage,
       j->>'tier' AS tier,
       j->>'image_size' AS image_size,
       j->>'image_quality' AS image_quality,
       CAST(j->'byok' AS VARCHAR[]) AS byok,
       CAST(j->'platform' AS VARCHAR[]) AS platform,
       CAST(j->'local' AS VARCHAR[]) AS local_endpoints,
       CAST(j->>'byok_only' AS BOOLEAN) AS byok_only,
       CAST(j->'allowed' AS VARCHAR[]) AS allowed,
       CAST(j->'blocked' AS VARCHAR[]) AS blocked,
       CAST(j->>'allow_deprecated' AS BOOLEAN) AS allow_deprecated,
       CAST(j->>'local_first' AS BOOLEAN) AS local_first,
       CAST(j->>'max_price' AS DECIMAL(38, 18)) AS max_price,
       CAST(j->'only' AS VARCHAR[]) AS only_models
FROM (SELECT CAST($request AS JSON) AS j);
