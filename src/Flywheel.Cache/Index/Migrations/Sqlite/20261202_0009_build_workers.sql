-- Flywheel.Cache index: build workers seen per lane (SQLite).
-- Append-only: never edit a script once released; add a new dated one.
-- PostgreSQL twin: the same text.
--
-- build_workers: one row per worker and lane it serves, written whenever the worker polls the queue (in-process
--   workers of a daemon and `flywheel worker` processes alike), so every gateway sees the workers of every process.
--   A worker is live while last_seen is within the live window (Builds:WorkerLiveWindow); a worker that stops removes
--   its rows, and rows not seen for a day are forgotten by the next worker that polls.

CREATE TABLE build_workers (
    worker    TEXT   NOT NULL,
    lane      TEXT   NOT NULL,
    host      TEXT   NOT NULL,
    last_seen BIGINT NOT NULL,
    PRIMARY KEY (worker, lane)
);

CREATE INDEX build_workers_last_seen ON build_workers (last_seen);
