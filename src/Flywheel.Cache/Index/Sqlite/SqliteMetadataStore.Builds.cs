namespace Flywheel.Cache.Index.Sqlite;

public sealed partial class SqliteMetadataStore
{
    private const string BuildParameters =
        "@id, @cache_name, @installable, @lane, @lane_reason, @status, @attempt, @requested_at, @started_at, @finished_at, @worker, @outputs, @log_path, @error, @heartbeat_at, @leased_until, @phase, @phase_started_at";

    private const string AttemptParameters =
        "@build_id, @attempt, @installable, @lane, @outcome, @exit_code, @peak_memory_bytes, @memory_limit, @built_paths, @substituted_paths, @phases, @started_at, @finished_at";

    private const string EnqueueBuildSql =
        "INSERT INTO builds (" + BuildRows.BuildColumns + ") VALUES (" + BuildParameters + ") ON CONFLICT (id) DO NOTHING";

    // One statement claims one row: SQLite runs writes one at a time, so the inner SELECT and the UPDATE see the same queue.
    private const string TakeBuildSql =
        "UPDATE builds SET status = 'running', attempt = attempt + 1, started_at = @when, finished_at = NULL, worker = @worker, " +
        "heartbeat_at = @when, leased_until = @leased_until, phase = NULL, phase_started_at = NULL " +
        "WHERE status = 'queued' AND id = (SELECT id FROM builds WHERE status = 'queued' " +
        "AND lane IN (SELECT value FROM json_each(@lanes)) ORDER BY requested_at, id LIMIT 1) " +
        "RETURNING " + BuildRows.BuildColumns;

    private const string RenewLeaseSql =
        "UPDATE builds SET heartbeat_at = @when, leased_until = @leased_until " +
        "WHERE id = @id AND status = 'running' AND worker = @worker AND attempt = @attempt";

    private const string SetPhaseSql =
        "UPDATE builds SET phase = @phase, phase_started_at = @when " +
        "WHERE id = @id AND status = 'running' AND worker = @worker AND attempt = @attempt";

    // The guard (running, taken by this worker, this attempt) makes a worker whose lease ended unable to overwrite the build.
    private const string FinishBuildSql =
        "UPDATE builds SET lane = @lane, lane_reason = @lane_reason, status = @status, started_at = @started_at, finished_at = @finished_at, " +
        "worker = @worker, outputs = @outputs, log_path = @log_path, error = @error, heartbeat_at = @heartbeat_at, leased_until = @leased_until, " +
        "phase = @phase, phase_started_at = @phase_started_at " +
        "WHERE id = @id AND cache_name = @cache_name AND installable = @installable AND requested_at = @requested_at " +
        "AND status = 'running' AND worker = @held_by AND attempt = @attempt";

    private const string ExpiredBuildsSql =
        "SELECT " + BuildRows.BuildColumns + ", (SELECT COUNT(*) FROM build_attempts AS a WHERE a.build_id = builds.id AND a.outcome = 'lost') " +
        "FROM builds WHERE status = 'running' AND leased_until < @when ORDER BY leased_until, id LIMIT @limit";

    private const string ReclaimBuildSql =
        "UPDATE builds SET status = @status, finished_at = @finished_at, leased_until = NULL, phase = NULL, phase_started_at = NULL, error = @error " +
        "WHERE id = @id AND status = 'running' AND attempt = @attempt";

    private const string GetBuildSql = "SELECT " + BuildRows.BuildColumns + " FROM builds WHERE id = @id";

    private const string ListBuildsSql =
        "SELECT " + BuildRows.BuildColumns + " FROM builds WHERE (@cache_name IS NULL OR cache_name = @cache_name) " +
        "AND (@installable IS NULL OR installable = @installable) AND (@status IS NULL OR status = @status) " +
        "ORDER BY requested_at DESC, id DESC LIMIT @limit";

    private const string AddAttemptSql =
        "INSERT INTO build_attempts (" + BuildRows.AttemptColumns + ") VALUES (" + AttemptParameters + ")";

    private const string ListAttemptsSql =
        "SELECT " + BuildRows.AttemptColumns + " FROM build_attempts WHERE (@build_id IS NULL OR build_id = @build_id) " +
        "AND (@installable IS NULL OR installable = @installable) ORDER BY finished_at DESC, build_id DESC, attempt DESC LIMIT @limit";

    private static readonly string AttemptsByInstallableSql =
        BuildRows.WithParameters(BuildRows.AttemptsByInstallableSql, "@installable", "@finished_at", "@build_id", "@attempt", "@limit");

    private static readonly string[] BuildParameterNames = BuildParameters.Split(", ");
    private static readonly string[] FinishParameterNames = [.. BuildParameterNames, "@held_by"];
    private static readonly string[] AttemptParameterNames = AttemptParameters.Split(", ");

    public Task EnqueueBuildAsync(BuildRecord build, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(build);
        return RunAsync(build, static (session, b) =>
        {
            var command = session.Command(EnqueueBuildSql, BuildParameterNames);
            Bind(command.Parameters, BuildRows.BuildValues(b));
            if (command.ExecuteNonQuery() == 0)
            {
                throw new CacheException(CacheError.Conflict, $"a build with id '{b.Id}' exists already");
            }

            return true;
        }, cancellationToken);
    }

    public Task<BuildRecord?> TakeBuildAsync(
        IReadOnlyCollection<string> lanes, string worker, DateTimeOffset when, DateTimeOffset leasedUntil, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lanes);
        ArgumentNullException.ThrowIfNull(worker);
        return RunAsync((lanes, worker, when, leasedUntil), static (session, s) =>
        {
            var command = session.Command(TakeBuildSql, "@when", "@worker", "@lanes", "@leased_until");
            command.Parameters[0].Value = ToUnix(s.when);
            command.Parameters[1].Value = s.worker;
            command.Parameters[2].Value = SqliteJson.StringArray(s.lanes);
            command.Parameters[3].Value = ToUnix(s.leasedUntil);
            using var reader = command.ExecuteReader();
            return reader.Read() ? BuildRows.Build(reader) : null;
        }, cancellationToken);
    }

    public Task<bool> RenewBuildLeaseAsync(string id, string worker, int attempt, DateTimeOffset when, DateTimeOffset leasedUntil, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(id);
        ArgumentNullException.ThrowIfNull(worker);
        return RunAsync((id, worker, attempt, when, leasedUntil), static (session, s) =>
        {
            var command = session.Command(RenewLeaseSql, "@when", "@leased_until", "@id", "@worker", "@attempt");
            command.Parameters[0].Value = ToUnix(s.when);
            command.Parameters[1].Value = ToUnix(s.leasedUntil);
            command.Parameters[2].Value = s.id;
            command.Parameters[3].Value = s.worker;
            command.Parameters[4].Value = s.attempt;
            return command.ExecuteNonQuery() == 1;
        }, cancellationToken);
    }

    public Task<bool> SetBuildPhaseAsync(string id, string worker, int attempt, string phase, DateTimeOffset when, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(id);
        ArgumentNullException.ThrowIfNull(worker);
        ArgumentNullException.ThrowIfNull(phase);
        return RunAsync((id, worker, attempt, phase, when), static (session, s) =>
        {
            var command = session.Command(SetPhaseSql, "@phase", "@when", "@id", "@worker", "@attempt");
            command.Parameters[0].Value = s.phase;
            command.Parameters[1].Value = ToUnix(s.when);
            command.Parameters[2].Value = s.id;
            command.Parameters[3].Value = s.worker;
            command.Parameters[4].Value = s.attempt;
            return command.ExecuteNonQuery() == 1;
        }, cancellationToken);
    }

    public Task FinishBuildAttemptAsync(BuildRecord build, string worker, BuildAttemptRecord? attempt, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(build);
        ArgumentNullException.ThrowIfNull(worker);
        return RunAsync((build, worker, attempt), static (session, s) =>
        {
            using var transaction = session.Connection.BeginTransaction(deferred: false);
            var update = session.Command(FinishBuildSql, FinishParameterNames);
            update.Transaction = transaction;
            Bind(update.Parameters, BuildRows.BuildValues(s.build));
            update.Parameters[^1].Value = s.worker;
            if (update.ExecuteNonQuery() == 0)
            {
                var get = session.Command(GetBuildSql, "@id");
                get.Transaction = transaction;
                get.Parameters[0].Value = s.build.Id;
                using var reader = get.ExecuteReader();
                throw reader.Read()
                    ? new CacheException(CacheError.Conflict, BuildLeases.NotHeld(s.build, s.worker, BuildRows.Build(reader)))
                    : new CacheException(CacheError.NotFound, $"no build '{s.build.Id}'");
            }

            if (s.attempt is not null)
            {
                InsertAttempt(session, transaction, s.attempt);
            }

            transaction.Commit();
            return true;
        }, cancellationToken);
    }

    public Task<IReadOnlyList<BuildRecord>> ReclaimExpiredBuildsAsync(DateTimeOffset when, int maxLost, CancellationToken cancellationToken) =>
        RunAsync((when, maxLost), static (session, s) =>
        {
            using var transaction = session.Connection.BeginTransaction(deferred: false); // BEGIN IMMEDIATE: one reclaimer at a time
            var select = session.Command(ExpiredBuildsSql, "@when", "@limit");
            select.Transaction = transaction;
            select.Parameters[0].Value = ToUnix(s.when);
            select.Parameters[1].Value = BuildLeases.MaxReclaimedPerCall;
            var expired = new List<(BuildRecord Build, int LostBefore)>();
            using (var reader = select.ExecuteReader())
            {
                while (reader.Read())
                {
                    expired.Add((BuildRows.Build(reader), reader.GetInt32(BuildRows.BuildColumnCount)));
                }
            }

            var reclaimed = new List<BuildRecord>(expired.Count);
            foreach (var (build, lostBefore) in expired)
            {
                var (next, lost) = BuildLeases.Reclaim(build, lostBefore, s.maxLost, s.when);
                var update = session.Command(ReclaimBuildSql, "@status", "@finished_at", "@error", "@id", "@attempt");
                update.Transaction = transaction;
                update.Parameters[0].Value = BuildRows.Status(next.Status);
                update.Parameters[1].Value = next.FinishedAt is { } finished ? ToUnix(finished) : DBNull.Value;
                update.Parameters[2].Value = OrNull(next.Error);
                update.Parameters[3].Value = next.Id;
                update.Parameters[4].Value = next.Attempt;
                if (update.ExecuteNonQuery() == 1)
                {
                    InsertAttempt(session, transaction, lost);
                    reclaimed.Add(next);
                }
            }

            transaction.Commit();
            return (IReadOnlyList<BuildRecord>)reclaimed;
        }, cancellationToken);

    public Task<IReadOnlyList<BuildCount>> CountActiveBuildsAsync(CancellationToken cancellationToken) =>
        RunAsync(0, static (session, _) =>
        {
            var counts = new List<BuildCount>();
            using var reader = session.Command(BuildRows.CountActiveSql).ExecuteReader();
            while (reader.Read())
            {
                counts.Add(new BuildCount(reader.GetString(0), BuildRows.ParseStatus(reader.GetString(1)), reader.GetInt64(2)));
            }

            return (IReadOnlyList<BuildCount>)counts;
        }, cancellationToken);

    public Task<BuildRecord?> GetBuildAsync(string id, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(id);
        return RunAsync(id, static (session, id) =>
        {
            var command = session.Command(GetBuildSql, "@id");
            command.Parameters[0].Value = id;
            using var reader = command.ExecuteReader();
            return reader.Read() ? BuildRows.Build(reader) : null;
        }, cancellationToken);
    }

    public Task<IReadOnlyList<BuildRecord>> ListBuildsAsync(BuildQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        return RunAsync(query, static (session, q) =>
        {
            var command = session.Command(ListBuildsSql, "@cache_name", "@installable", "@status", "@limit");
            command.Parameters[0].Value = OrNull(q.Cache);
            command.Parameters[1].Value = OrNull(q.Installable);
            command.Parameters[2].Value = q.Status is { } status ? BuildRows.Status(status) : DBNull.Value;
            command.Parameters[3].Value = q.Limit;
            var builds = new List<BuildRecord>();
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                builds.Add(BuildRows.Build(reader));
            }

            return (IReadOnlyList<BuildRecord>)builds;
        }, cancellationToken);
    }

    public Task<IReadOnlyList<BuildAttemptRecord>> ListBuildAttemptsAsync(string? buildId, string? installable, int limit, CancellationToken cancellationToken) =>
        RunAsync((buildId, installable, limit), static (session, s) =>
        {
            var command = session.Command(ListAttemptsSql, "@build_id", "@installable", "@limit");
            command.Parameters[0].Value = OrNull(s.buildId);
            command.Parameters[1].Value = OrNull(s.installable);
            command.Parameters[2].Value = s.limit;
            return ReadAttempts(command);
        }, cancellationToken);

    public Task<IReadOnlyList<BuildAttemptRecord>> ListBuildAttemptsByInstallableAsync(BuildAttemptRecord? after, int limit, CancellationToken cancellationToken) =>
        RunAsync((after, limit), static (session, s) =>
        {
            var command = session.Command(AttemptsByInstallableSql, "@installable", "@finished_at", "@build_id", "@attempt", "@limit");
            command.Parameters[0].Value = s.after?.Installable ?? "";
            command.Parameters[1].Value = s.after is { } a ? ToUnix(a.FinishedAt) : long.MinValue;
            command.Parameters[2].Value = s.after?.BuildId ?? "";
            command.Parameters[3].Value = s.after?.Attempt ?? int.MinValue;
            command.Parameters[4].Value = s.limit;
            return ReadAttempts(command);
        }, cancellationToken);

    private static IReadOnlyList<BuildAttemptRecord> ReadAttempts(Microsoft.Data.Sqlite.SqliteCommand command)
    {
        var attempts = new List<BuildAttemptRecord>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            attempts.Add(BuildRows.Attempt(reader));
        }

        return attempts;
    }

    private static void InsertAttempt(SqliteSession session, Microsoft.Data.Sqlite.SqliteTransaction transaction, BuildAttemptRecord attempt)
    {
        var insert = session.Command(AddAttemptSql, AttemptParameterNames);
        insert.Transaction = transaction;
        Bind(insert.Parameters, BuildRows.AttemptValues(attempt));
        insert.ExecuteNonQuery();
    }

    private static void Bind(Microsoft.Data.Sqlite.SqliteParameterCollection parameters, object[] values)
    {
        for (var i = 0; i < values.Length; i++)
        {
            parameters[i].Value = values[i];
        }
    }
}
