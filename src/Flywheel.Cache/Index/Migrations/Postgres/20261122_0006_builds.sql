-- Flywheel.Cache index: Nix build orchestration (PostgreSQL).
-- Append-only: never edit a script once released; add a new dated one.
-- SQLite twin: the same text.
--
-- builds: the queue and the record of each build request. status: queued, running, succeeded, failed.
--   lane is where it runs (or ran last); lane_reason says why that lane (asked for, recommended, rerouted).
--   A worker claims the oldest queued build of its lanes in one statement (see the stores). outputs: store paths,
--   one per line; log_path: the cache file path of the build log (log/<drv>), served at /<cache>/log/<drv>.
-- build_attempts: one row per run of a build on a lane (an out-of-memory kill and its retry are two rows);
--   read per installable they are the history that lane recommendations and the lanes report come from.
--   outcome: succeeded, failed, oom. memory_limit: how the envelope was enforced ("cgroup-v2", "cgroup-v1",
--   or "none: <reason>" when only sampling was possible). phases: one "name milliseconds outcome" per line.

CREATE TABLE builds (
    id           TEXT    NOT NULL PRIMARY KEY,
    cache_name   TEXT    NOT NULL,
    installable  TEXT    NOT NULL,
    lane         TEXT    NOT NULL,
    lane_reason  TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    attempt      INTEGER NOT NULL,
    requested_at BIGINT  NOT NULL,
    started_at   BIGINT,
    finished_at  BIGINT,
    worker       TEXT,
    outputs      TEXT    NOT NULL,
    log_path     TEXT,
    error        TEXT
);

CREATE INDEX builds_queue ON builds (status, requested_at);
CREATE INDEX builds_installable ON builds (installable, requested_at);

CREATE TABLE build_attempts (
    build_id          TEXT    NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
    attempt           INTEGER NOT NULL,
    installable       TEXT    NOT NULL,
    lane              TEXT    NOT NULL,
    outcome           TEXT    NOT NULL,
    exit_code         INTEGER,
    peak_memory_bytes BIGINT,
    memory_limit      TEXT    NOT NULL,
    built_paths       INTEGER NOT NULL,
    substituted_paths INTEGER NOT NULL,
    phases            TEXT    NOT NULL,
    started_at        BIGINT  NOT NULL,
    finished_at       BIGINT  NOT NULL,
    PRIMARY KEY (build_id, attempt)
);

CREATE INDEX build_attempts_installable ON build_attempts (installable, finished_at);
