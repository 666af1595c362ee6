-- Flywheel.Cache index: NAR files are blobs their cache owns (SQLite).
-- Append-only: never edit a script once released; add a new dated one.
-- PostgreSQL twin: the same text.
--
-- Access to blobs is per cache: a cache (Bazel instance) serves over the CAS routes, and reports present, only the
-- blobs in its cache_blobs. A verified NAR upload or upstream pull now makes the NAR file's blob the cache's own;
-- NAR files stored before this migration become the own blobs of the caches whose NAR records name them, so that
-- /<cache>/cas/<filehash> keeps serving a cache's own NARs and nothing else. Such a membership follows its NAR
-- record (retention), not the quota.
INSERT INTO cache_blobs (cache_id, digest, size, last_access)
SELECT n.cache_id, n.file_hash, b.size, b.last_access
FROM nar_files AS n JOIN blobs AS b ON b.digest = n.file_hash
WHERE true
ON CONFLICT (cache_id, digest) DO NOTHING;
