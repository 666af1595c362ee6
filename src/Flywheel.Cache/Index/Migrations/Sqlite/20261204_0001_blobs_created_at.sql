-- Flywheel.Cache index: blobs by creation time (SQLite).
-- Append-only: never edit a script once released; add a new dated one.
-- PostgreSQL twin: the same text.
--
-- After an unclean stop of a disk store, the blobs recorded since its durable horizon are read back before the
-- daemon serves (Storage/Disk/DiskRecovery.cs); this finds them without scanning every blob record.
CREATE INDEX blobs_created_at ON blobs (created_at);
