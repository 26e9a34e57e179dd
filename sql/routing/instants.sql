-- Instants where what is in force can change (price rows, lifecycle dates at UTC midnight):
-- two route times between the same two instants see the same rows and lifecycle state.
SELECT DISTINCT x FROM (
    SELECT effective_from AS x FROM prices UNION ALL
    SELECT effective_to FROM prices UNION ALL
    SELECT timezone('UTC', deprecated::TIMESTAMP) FROM models UNION ALL
    SELECT timezone('UTC', retired::TIMESTAMP) FROM models
) WHERE x IS NOT NULL ORDER BY x;
