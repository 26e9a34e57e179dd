-- The chain head: the last record's sequence number and hash.
SELECT seq, row_hash FROM ledger ORDER BY seq DESC LIMIT 1;
