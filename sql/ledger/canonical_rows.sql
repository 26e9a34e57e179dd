-- Rows of a ledger relation (__SOURCE__) in the form canonical() hashes: money as its
-- DECIMAL(38, 24) text, timestamps as epoch microseconds. Verification reads these rather than
-- building Python Decimals and datetimes (several times faster). Keep in step with rows.py.
SELECT
    seq, record_id, epoch_us(recorded_at) AS recorded_at, kind, reverses, reason,
    tenant_id, call_id, idempotency_key, epoch_us(occurred_at) AS occurred_at,
    provider_id, model_id, capability_class, tier, fund_source,
    credential_id, credential_resolution_id, quote_id,
    list_transform(usage, u -> {'dimension': u.dimension, 'quantity': u.quantity::VARCHAR}) AS usage,
    list_transform(lines, l -> {
        'dimension': l.dimension, 'price_id': l.price_id, 'unit_price': l.unit_price::VARCHAR,
        'per': l.per, 'quantity': l.quantity::VARCHAR, 'amount': l.amount::VARCHAR,
        'effective_from': epoch_us(l.effective_from)
    }) AS lines,
    raw_cost::VARCHAR AS raw_cost, margin_factor::VARCHAR AS margin_factor,
    byok_fee::VARCHAR AS byok_fee, billed_amount::VARCHAR AS billed_amount,
    rounded_amount::VARCHAR AS rounded_amount, rounding_mode,
    rounding_quantum::VARCHAR AS rounding_quantum, currency, catalog_version, rules_version,
    prev_hash, row_hash
FROM __SOURCE__
