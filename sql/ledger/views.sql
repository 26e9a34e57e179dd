-- Views over a `ledger` relation (the sealed Parquet: see engine/ledger/audit.py, or by hand:
--   CREATE VIEW ledger AS SELECT * FROM read_parquet(['seg-...parquet', ...]);
-- using only the files listed in manifest.json).

-- One row per priced line of every record.
CREATE OR REPLACE VIEW ledger_lines AS
SELECT r.seq, r.record_id, r.kind, r.tenant_id, r.occurred_at, r.provider_id, r.model_id,
       r.capability_class, r.fund_source, r.quote_id, r.currency,
       l.line.dimension, l.line.price_id, l.line.unit_price, l.line.per, l.line.quantity,
       l.line.amount, l.line.effective_from
FROM ledger AS r, unnest(r.lines) AS l(line);
