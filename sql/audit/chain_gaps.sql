-- Check (empty = clean): holes and breaks in the sequence and hash links. Row hashes
-- themselves are recomputed by `byokvault ledger verify`; this finds what SQL alone can.
WITH ordered AS (
    SELECT seq, record_id, prev_hash, row_hash,
           lag(seq) OVER (ORDER BY seq) AS prior_seq,
           lag(row_hash) OVER (ORDER BY seq) AS prior_hash
    FROM ledger
)
SELECT seq, record_id,
       CASE
           WHEN prior_seq IS NULL AND seq <> 1 THEN 'records before seq ' || seq || ' missing'
           WHEN prior_seq = seq THEN 'seq used twice'
           WHEN seq <> prior_seq + 1
               THEN 'records ' || (prior_seq + 1) || '..' || (seq - 1) || ' missing'
           WHEN prior_seq IS NULL AND prev_hash <> repeat('0', 64)
               THEN 'first record does not start the chain'
           WHEN prior_seq IS NOT NULL AND prev_hash <> prior_hash
               THEN 'prev_hash does not link to the previous record'
       END AS problem
FROM ordered
WHERE problem IS NOT NULL
ORDER BY seq;
