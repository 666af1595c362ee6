-- Flywheel.Cache index: leases on running builds (SQLite).
-- Append-only: never edit a script once released; add a new dated one.
-- PostgreSQL twin: the same text.
--
-- A worker that takes a build holds it until leased_until and renews the lease (heartbeat_at, leased_until) while
-- it runs. A running build whose lease has ended belongs to a worker that died: the next worker to look requeues it
-- (status queued) and records the attempt with outcome 'lost' in build_attempts, or gives up after a bound of lost
-- attempts (status 'lost'). Builds left running before this migration (by workers that had no lease) get an
-- ended lease, so the next worker reclaims them.

ALTER TABLE builds ADD COLUMN heartbeat_at BIGINT;
ALTER TABLE builds ADD COLUMN leased_until BIGINT;

UPDATE builds SET leased_until = 0 WHERE status = 'running';
