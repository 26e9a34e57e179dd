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

-- The UTC calendar month of a timestamp, whatever the session's TimeZone, without a per-row
-- time zone conversion (epoch arithmetic: ~3x faster than AT TIME ZONE on 10M rows).
CREATE OR REPLACE MACRO utc_month(ts) AS CAST(date_trunc('month', make_timestamp(epoch_us(ts))) AS DATE);

-- The instant a UTC calendar month starts, as TIMESTAMPTZ (constant-folded, so a filter
-- `occurred_at >= month_start(d)` prunes Parquet row groups).
CREATE OR REPLACE MACRO month_start(d) AS CAST(d AS TIMESTAMP) AT TIME ZONE 'UTC';
