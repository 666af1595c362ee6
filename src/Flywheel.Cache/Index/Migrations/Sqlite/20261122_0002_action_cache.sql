-- Flywheel.Cache index: the Bazel action cache (SQLite).
-- Append-only: never edit a script once released; add a new dated one.
-- One entry per (cache, action hash): the serialized ActionResult as uploaded (or as canonicalized for gRPC
-- updates), served back byte for byte. The action digest's size is implied by its hash and not stored.
-- PostgreSQL twin: the same text with BLOB -> BYTEA.

CREATE TABLE action_results (
    cache_id    BIGINT NOT NULL REFERENCES caches (id) ON DELETE CASCADE,
    action_hash BLOB   NOT NULL,
    result      BLOB   NOT NULL,
    size        BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    last_access BIGINT NOT NULL,
    PRIMARY KEY (cache_id, action_hash)
);

CREATE INDEX action_results_last_access ON action_results (cache_id, last_access);
