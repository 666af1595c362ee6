-- Flywheel.Cache index: the Bazel action cache (PostgreSQL).
-- Append-only: never edit a script once released, add a new dated one.
-- The twin of Migrations/Sqlite/20261122_0002_action_cache.sql with BLOB -> BYTEA.
-- One entry per (cache, action hash): the serialized ActionResult as uploaded (or as canonicalized for gRPC
-- updates), served back byte for byte. The action digest's size is implied by its hash and not stored.

CREATE TABLE action_results (
    cache_id    BIGINT NOT NULL REFERENCES caches (id) ON DELETE CASCADE,
    action_hash BYTEA  NOT NULL,
    result      BYTEA  NOT NULL,
    size        BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    last_access BIGINT NOT NULL,
    PRIMARY KEY (cache_id, action_hash)
);

CREATE INDEX action_results_last_access ON action_results (cache_id, last_access);
