-- The usage table the SQL pricing twin prices (sql/pricing/twin.sql): one row per call.
-- Usage columns follow engine/pricing/usage.py (genai-prices key names; input_tokens INCLUDES its
-- cached/cache-written/audio parts, output_tokens includes reasoning); a test keeps them in sync.
-- Absent quantities default to 0 and `requests` to 1 (one call), so
--   INSERT INTO usage_input BY NAME SELECT 1 AS call_id, 'openai' AS provider_id, ...
-- may name only the columns it has (`at` is a keyword in DuckDB: quote it, "at"). Durations allow 6 decimals (microsecond precision).
CREATE TABLE IF NOT EXISTS usage_input (
    call_id                  BIGINT NOT NULL,
    provider_id              VARCHAR NOT NULL,
    model_id                 VARCHAR NOT NULL,
    "at"                     TIMESTAMPTZ NOT NULL,
    service_tier             VARCHAR NOT NULL DEFAULT 'standard',
    region                   VARCHAR,
    image_size               VARCHAR,
    image_quality            VARCHAR,
    video_resolution         VARCHAR,
    input_tokens             BIGINT NOT NULL DEFAULT 0,
    cache_read_tokens        BIGINT NOT NULL DEFAULT 0,
    cache_write_tokens       BIGINT NOT NULL DEFAULT 0,
    cache_write_5m_tokens    BIGINT NOT NULL DEFAULT 0,
    cache_write_1h_tokens    BIGINT NOT NULL DEFAULT 0,
    input_audio_tokens       BIGINT NOT NULL DEFAULT 0,
    cache_audio_read_tokens  BIGINT NOT NULL DEFAULT 0,
    input_image_tokens       BIGINT NOT NULL DEFAULT 0,
    input_video_tokens       BIGINT NOT NULL DEFAULT 0,
    output_tokens            BIGINT NOT NULL DEFAULT 0,
    output_reasoning_tokens  BIGINT NOT NULL DEFAULT 0,
    output_audio_tokens      BIGINT NOT NULL DEFAULT 0,
    output_image_tokens      BIGINT NOT NULL DEFAULT 0,
    embedding_tokens         BIGINT NOT NULL DEFAULT 0,
    input_characters         BIGINT NOT NULL DEFAULT 0,
    input_document_pages     BIGINT NOT NULL DEFAULT 0,
    input_images             BIGINT NOT NULL DEFAULT 0,
    output_images            BIGINT NOT NULL DEFAULT 0,
    input_audio_seconds      DECIMAL(38, 6) NOT NULL DEFAULT 0,
    output_audio_seconds     DECIMAL(38, 6) NOT NULL DEFAULT 0,
    output_video_seconds     DECIMAL(38, 6) NOT NULL DEFAULT 0,
    realtime_minutes         DECIMAL(38, 6) NOT NULL DEFAULT 0,
    web_searches             BIGINT NOT NULL DEFAULT 0,
    tool_calls               BIGINT NOT NULL DEFAULT 0,
    requests                 BIGINT NOT NULL DEFAULT 1
);
