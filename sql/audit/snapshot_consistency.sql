-- Check (empty = clean): priced lines whose frozen price disagrees with the catalog's price row
-- in force at the call's time, or with the call's quote. One row per problem.
-- Needs the catalog snapshot tables (prices, units) and a `quotes` relation
-- (quote_id, dimension, price_id, unit_price; empty when quotes are not audited).
WITH lines AS (
    SELECT l.*, p.price_id AS catalog_price_id, p.provider_id AS p_provider, p.model_id AS p_model,
           p.dimension AS p_dimension, p.amount AS catalog_amount, p.currency AS p_currency,
           p.effective_from AS p_from, p.effective_to AS p_to, u.per AS catalog_per
    FROM ledger_lines AS l
    LEFT JOIN prices AS p ON p.price_id = l.price_id
    LEFT JOIN units AS u ON u.dimension = p.dimension
),
problems AS (
    SELECT seq, record_id, dimension, price_id, unit_price, catalog_amount AS expected,
           CASE
               WHEN catalog_price_id IS NULL THEN 'price row not in the catalog'
               WHEN p_provider <> provider_id OR p_model <> model_id
                   THEN 'price row belongs to another model'
               WHEN p_dimension <> dimension THEN 'price row prices another dimension'
               WHEN unit_price <> catalog_amount THEN 'unit price differs from the catalog'
               WHEN per <> catalog_per THEN 'per differs from the catalog unit'
               WHEN p_currency <> currency THEN 'currency differs from the catalog'
               WHEN effective_from <> p_from THEN 'effective date differs from the catalog'
               WHEN occurred_at < p_from OR (p_to IS NOT NULL AND occurred_at >= p_to)
                   THEN 'price row was not in force at the call time'
           END AS problem
    FROM lines
    UNION ALL
    SELECT l.seq, l.record_id, l.dimension, l.price_id, l.unit_price, q.unit_price,
           CASE
               WHEN q.quote_id IS NULL THEN 'dimension not in the quote'
               WHEN q.price_id <> l.price_id THEN 'price row differs from the quote'
               WHEN q.unit_price <> l.unit_price THEN 'unit price differs from the quote'
           END
    FROM ledger_lines AS l
    LEFT JOIN quotes AS q ON q.quote_id = l.quote_id AND q.dimension = l.dimension
    WHERE l.quote_id IN (SELECT quote_id FROM quotes)
)
SELECT seq, record_id, dimension, price_id, unit_price, expected, problem
FROM problems
WHERE problem IS NOT NULL
ORDER BY seq, dimension, problem;
