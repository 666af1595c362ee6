-- Flywheel.Cache index: leases on running builds (SQLite).
-- Append-only: never edit a script once released; add a new dated one.
-- PostgreSQL twin: the same text.
--
-- A worker that takes a build holds it until leased_until and renews the lease (heartbeat_at, leased_until) while
-- it runs. A running build whose lease has ended belongs to a worker that died: the next worker to look requeues it
-- (status queued) and records the attempt with outcome 'lost' in build_attempts, or gives up after a bound of lost
-- attempts (status 'lost'). Builds left running before this migration (by workers that had no lease) get an
-- ended lease, so the next worker reclaims them.
-- phase, phase_started_at: the phase the running attempt is in (bootstrap, evaluation, plan, build, upload) and since
-- when, for live progress; NULL when the build is not running.

ALTER TABLE builds ADD COLUMN heartbeat_at BIGINT;
ALTER TABLE builds ADD COLUMN leased_until BIGINT;
ALTER TABLE builds ADD COLUMN phase TEXT;
ALTER TABLE builds ADD COLUMN phase_started_at BIGINT;

UPDATE builds SET leased_until = 0 WHERE status = 'running';
