-- Check (empty = clean): holes and breaks in the sequence and hash links. Row hashes
-- themselves are recomputed by `byokvault ledger verify`; this finds what SQL alone can.
-- (A join on seq - 1 rather than a window: no sort of 10M rows.)
WITH links AS (
    SELECT c.seq, c.record_id, c.prev_hash, p.seq AS prior_seq, p.row_hash AS prior_hash
    FROM ledger AS c
    LEFT JOIN (SELECT seq, row_hash FROM ledger) AS p ON p.seq = c.seq - 1
),
twice AS (
    SELECT seq FROM ledger GROUP BY seq HAVING count(*) > 1
),
problems AS (
    SELECT seq, record_id,
           CASE
               WHEN seq IN (SELECT seq FROM twice) THEN 'seq used twice'
               WHEN seq = 1 AND prev_hash <> repeat('0', 64)
                   THEN 'first record does not start the chain'
               WHEN seq > 1 AND prior_seq IS NULL THEN 'gap'
               WHEN seq > 1 AND prev_hash <> prior_hash
                   THEN 'prev_hash does not link to the previous record'
           END AS problem
    FROM links
)
SELECT seq, record_id,
       CASE problem
           WHEN 'gap' THEN
               CASE WHEN prior IS NULL THEN 'records before seq ' || seq || ' missing'
                    ELSE 'records ' || (prior + 1) || '..' || (seq - 1) || ' missing' END
           ELSE problem
       END AS problem
FROM (
    SELECT p.*, (SELECT max(l.seq) FROM ledger AS l WHERE l.seq < p.seq) AS prior
    FROM problems AS p
    WHERE p.problem IS NOT NULL
)
ORDER BY seq, problem;
