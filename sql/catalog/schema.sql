-- Catalog tables, loaded from a Parquet snapshot (see engine/catalog/store.py).
-- Column order matches the snapshot files; money is DECIMAL(38, 18), never DOUBLE.

CREATE TABLE providers (
    provider_id   VARCHAR PRIMARY KEY,
    name          VARCHAR NOT NULL,
    kind          VARCHAR NOT NULL CHECK (kind IN ('cloud', 'local')),
    api_style     VARCHAR NOT NULL,
    base_url      VARCHAR NOT NULL,
    auth_scheme   VARCHAR NOT NULL,
    auth_header   VARCHAR,
    pricing_urls  VARCHAR[] NOT NULL
);

CREATE TABLE models (
    provider_id            VARCHAR NOT NULL,
    model_id               VARCHAR NOT NULL,
    name                   VARCHAR NOT NULL,
    mode                   VARCHAR NOT NULL,
    capability_class       VARCHAR NOT NULL,
    input_modalities       VARCHAR[] NOT NULL,
    output_modalities      VARCHAR[] NOT NULL,
    context_window         BIGINT,
    max_output_tokens      BIGINT,
    max_images_per_request BIGINT,
    max_audio_seconds      BIGINT,
    max_video_seconds      BIGINT,
    embedding_dimensions   BIGINT,
    released               DATE,
    deprecated             DATE,
    retired                DATE,
    PRIMARY KEY (provider_id, model_id)
);

-- Every name a model answers to: its id, aliases, and match rules from imported sources.
CREATE TABLE model_names (
    provider_id VARCHAR NOT NULL,
    model_id    VARCHAR NOT NULL,
    match_kind  VARCHAR NOT NULL CHECK (match_kind IN ('id', 'alias', 'equals', 'starts_with', 'contains')),
    name        VARCHAR NOT NULL
);

-- The closure of each model's capabilities (declared, their ancestors, what they imply).
CREATE TABLE model_capabilities (
    provider_id VARCHAR NOT NULL,
    model_id    VARCHAR NOT NULL,
    capability  VARCHAR NOT NULL,
    declared    BOOLEAN NOT NULL,
    PRIMARY KEY (provider_id, model_id, capability)
);

CREATE TABLE capabilities (
    capability_id    VARCHAR PRIMARY KEY,
    parent           VARCHAR,
    capability_class VARCHAR NOT NULL,
    description      VARCHAR NOT NULL,
    aliases          VARCHAR[] NOT NULL,
    implies          VARCHAR[] NOT NULL
);

CREATE TABLE units (
    dimension   VARCHAR PRIMARY KEY,
    quantity    VARCHAR NOT NULL,
    per         BIGINT NOT NULL CHECK (per > 0),
    usage_key   VARCHAR NOT NULL,
    qualifiers  VARCHAR[] NOT NULL,
    description VARCHAR NOT NULL
);

-- One row per (model, dimension, conditions, effective_from). effective_to is derived at build
-- time: the effective_from of the next row of the same series, NULL while current.
CREATE TABLE prices (
    price_id               VARCHAR PRIMARY KEY,
    provider_id            VARCHAR NOT NULL,
    model_id               VARCHAR NOT NULL,
    dimension              VARCHAR NOT NULL,
    amount                 DECIMAL(38, 18) NOT NULL CHECK (amount >= 0),
    currency               VARCHAR NOT NULL,
    effective_from         TIMESTAMPTZ NOT NULL,
    effective_to           TIMESTAMPTZ,
    long_context_threshold BIGINT,
    long_context_inclusive BOOLEAN,
    service_tier           VARCHAR NOT NULL,
    window_start           TIME,
    window_end             TIME,
    region                 VARCHAR,
    image_size             VARCHAR,
    image_quality          VARCHAR,
    video_resolution       VARCHAR,
    conditions_key         VARCHAR NOT NULL,
    source                 VARCHAR NOT NULL,
    recorded_at            TIMESTAMPTZ NOT NULL
);

CREATE TABLE catalog_meta (
    catalog_version VARCHAR NOT NULL
);
