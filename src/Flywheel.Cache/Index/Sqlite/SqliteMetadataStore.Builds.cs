namespace Flywheel.Cache.Index.Sqlite;

public sealed partial class SqliteMetadataStore
{
    private const string BuildParameters =
        "@id, @cache_name, @installable, @lane, @lane_reason, @status, @attempt, @requested_at, @started_at, @finished_at, @worker, @outputs, @log_path, @error";

    private const string AttemptParameters =
        "@build_id, @attempt, @installable, @lane, @outcome, @exit_code, @peak_memory_bytes, @memory_limit, @built_paths, @substituted_paths, @phases, @started_at, @finished_at";

    private const string EnqueueBuildSql =
        "INSERT INTO builds (" + BuildRows.BuildColumns + ") VALUES (" + BuildParameters + ") ON CONFLICT (id) DO NOTHING";

    // One statement claims one row: SQLite runs writes one at a time, so the inner SELECT and the UPDATE see the same queue.
    private const string TakeBuildSql =
        "UPDATE builds SET status = 'running', attempt = attempt + 1, started_at = @when, finished_at = NULL, worker = @worker " +
        "WHERE status = 'queued' AND id = (SELECT id FROM builds WHERE status = 'queued' " +
        "AND lane IN (SELECT value FROM json_each(@lanes)) ORDER BY requested_at, id LIMIT 1) " +
        "RETURNING " + BuildRows.BuildColumns;

    private const string UpdateBuildSql =
        "UPDATE builds SET lane = @lane, lane_reason = @lane_reason, status = @status, attempt = @attempt, " +
        "started_at = @started_at, finished_at = @finished_at, worker = @worker, outputs = @outputs, log_path = @log_path, error = @error " +
        "WHERE id = @id AND cache_name = @cache_name AND installable = @installable AND requested_at = @requested_at";

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

    private static readonly string[] BuildParameterNames = BuildParameters.Split(", ");
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

    public Task<BuildRecord?> TakeBuildAsync(IReadOnlyCollection<string> lanes, string worker, DateTimeOffset when, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lanes);
        ArgumentNullException.ThrowIfNull(worker);
        return RunAsync((lanes, worker, when), static (session, s) =>
        {
            var command = session.Command(TakeBuildSql, "@when", "@worker", "@lanes");
            command.Parameters[0].Value = ToUnix(s.when);
            command.Parameters[1].Value = s.worker;
            command.Parameters[2].Value = SqliteJson.StringArray(s.lanes);
            using var reader = command.ExecuteReader();
            return reader.Read() ? BuildRows.Build(reader) : null;
        }, cancellationToken);
    }

    public Task UpdateBuildAsync(BuildRecord build, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(build);
        return RunAsync(build, static (session, b) =>
        {
            var command = session.Command(UpdateBuildSql, BuildParameterNames);
            Bind(command.Parameters, BuildRows.BuildValues(b));
            if (command.ExecuteNonQuery() == 0)
            {
                throw new CacheException(CacheError.NotFound, $"no build '{b.Id}'");
            }

            return true;
        }, cancellationToken);
    }

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

    public Task AddBuildAttemptAsync(BuildAttemptRecord attempt, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        return RunAsync(attempt, static (session, a) =>
        {
            var command = session.Command(AddAttemptSql, AttemptParameterNames);
            Bind(command.Parameters, BuildRows.AttemptValues(a));
            try
            {
                return command.ExecuteNonQuery();
            }
            catch (Microsoft.Data.Sqlite.SqliteException e) when (e.SqliteExtendedErrorCode == 787)
            {
                throw new CacheException(CacheError.NotFound, $"no build '{a.BuildId}'", e);
            }
        }, cancellationToken);
    }

    public Task<IReadOnlyList<BuildAttemptRecord>> ListBuildAttemptsAsync(string? buildId, string? installable, int limit, CancellationToken cancellationToken) =>
        RunAsync((buildId, installable, limit), static (session, s) =>
        {
            var command = session.Command(ListAttemptsSql, "@build_id", "@installable", "@limit");
            command.Parameters[0].Value = OrNull(s.buildId);
            command.Parameters[1].Value = OrNull(s.installable);
            command.Parameters[2].Value = s.limit;
            var attempts = new List<BuildAttemptRecord>();
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                attempts.Add(BuildRows.Attempt(reader));
            }

            return (IReadOnlyList<BuildAttemptRecord>)attempts;
        }, cancellationToken);

    private static void Bind(Microsoft.Data.Sqlite.SqliteParameterCollection parameters, object[] values)
    {
        for (var i = 0; i < values.Length; i++)
        {
            parameters[i].Value = values[i];
        }
    }
}
