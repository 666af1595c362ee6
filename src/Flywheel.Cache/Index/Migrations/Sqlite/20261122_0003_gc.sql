-- Flywheel.Cache index: what garbage collection needs (SQLite).
-- Append-only: never edit a script once released; add a new dated one.
-- PostgreSQL twin: the same text with BLOB -> BYTEA and no WITHOUT ROWID.
--
-- caches.quota_bytes: a size quota for the CAS bytes a cache (a Bazel instance) uses; NULL: none.
-- cache_blobs: which blobs a cache uses (wrote, read, or references from its action cache), with the size and
--   the last access through that cache: the least recently used ones are evicted when the cache is over quota.
--   A blob no cache uses, no NAR record and no cache file names is unreferenced and collected after a grace period.
-- pins: store paths of a Nix cache that retention never collects (with their closure), e.g. promoted outputs.

ALTER TABLE caches ADD COLUMN quota_bytes BIGINT;

CREATE TABLE cache_blobs (
    cache_id    BIGINT NOT NULL REFERENCES caches (id) ON DELETE CASCADE,
    digest      BLOB   NOT NULL,
    size        BIGINT NOT NULL,
    last_access BIGINT NOT NULL,
    PRIMARY KEY (cache_id, digest)
) WITHOUT ROWID;

CREATE INDEX cache_blobs_digest ON cache_blobs (digest);
CREATE INDEX cache_blobs_last_access ON cache_blobs (cache_id, last_access);

-- Blobs stored before this migration were not tracked per cache. Those that no NAR record or cache file names
-- (Bazel CAS blobs) are attributed to every cache, so none becomes unreferenced by the upgrade: a cache without
-- a quota keeps them, a cache with one evicts them by last access like any other.
INSERT INTO cache_blobs (cache_id, digest, size, last_access)
SELECT c.id, b.digest, b.size, b.last_access
FROM blobs AS b CROSS JOIN caches AS c
WHERE NOT EXISTS (SELECT 1 FROM nar_files AS n WHERE n.file_hash = b.digest)
  AND NOT EXISTS (SELECT 1 FROM cache_files AS f WHERE f.blob = b.digest);

CREATE TABLE pins (
    cache_id        BIGINT NOT NULL REFERENCES caches (id) ON DELETE CASCADE,
    store_path_hash TEXT   NOT NULL,
    reason          TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (cache_id, store_path_hash)
);
