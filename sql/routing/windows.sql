-- Times of day where a price's UTC time window opens or closes.
SELECT DISTINCT x FROM (SELECT window_start AS x FROM prices UNION ALL
                        SELECT window_end FROM prices)
WHERE x IS NOT NULL ORDER BY x;
