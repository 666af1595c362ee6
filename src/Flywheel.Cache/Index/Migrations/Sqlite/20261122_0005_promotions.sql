-- Flywheel.Cache index: promotions, the audit records of the promotion gate (SQLite).
-- Append-only: never edit a script once released; add a new dated one.
-- One row per promotion: its id is derived from the request (the same request gives the same promotion), the
-- decision (class and every rule's result), where it was published and the provenance statement, as JSON text.
-- promotion_paths lists the store paths of each promotion: published ones are kept from retention GC.
-- PostgreSQL twin: the same text.

CREATE TABLE promotions (
    id          TEXT   NOT NULL PRIMARY KEY,
    cache_id    BIGINT NOT NULL REFERENCES caches (id) ON DELETE CASCADE,
    status      TEXT   NOT NULL,
    class       TEXT   NOT NULL,
    target      TEXT,
    repository  TEXT,
    revision    TEXT,
    request     TEXT   NOT NULL,
    decision    TEXT   NOT NULL,
    provenance  TEXT,
    publication TEXT,
    error       TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE INDEX promotions_cache_created ON promotions (cache_id, created_at);

CREATE TABLE promotion_paths (
    promotion_id    TEXT   NOT NULL REFERENCES promotions (id) ON DELETE CASCADE,
    cache_id        BIGINT NOT NULL,
    store_path_hash TEXT   NOT NULL,
    store_path      TEXT   NOT NULL,
    position        INTEGER NOT NULL,
    PRIMARY KEY (promotion_id, store_path_hash)
);

CREATE INDEX promotion_paths_store_path ON promotion_paths (cache_id, store_path_hash);
