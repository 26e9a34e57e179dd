-- Quotes kept by engine/pricing/quote.py's DuckDBQuoteStore: the whole quote (estimated usage,
-- frozen price rows and billing terms, priced lines) as one JSON payload, money as strings.
CREATE TABLE IF NOT EXISTS quotes (
    quote_id   VARCHAR PRIMARY KEY,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    payload    JSON NOT NULL
);
