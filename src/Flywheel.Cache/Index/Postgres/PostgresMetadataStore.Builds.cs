using Npgsql;
using NpgsqlTypes;

namespace Flywheel.Cache.Index.Postgres;

public sealed partial class PostgresMetadataStore
{
    private const string EnqueueBuildSql =
        "INSERT INTO builds (" + BuildRows.BuildColumns + ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) " +
        "ON CONFLICT (id) DO NOTHING";

    // Workers on many machines: SKIP LOCKED lets each claim a different row without waiting on the others.
    private const string TakeBuildSql =
        "UPDATE builds SET status = 'running', attempt = attempt + 1, started_at = $1, finished_at = NULL, worker = $2 " +
        "WHERE id = (SELECT id FROM builds WHERE status = 'queued' AND lane = ANY($3) " +
        "ORDER BY requested_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) " +
        "RETURNING " + BuildRows.BuildColumns;

    private const string UpdateBuildSql =
        "UPDATE builds SET lane = $4, lane_reason = $5, status = $6, attempt = $7, started_at = $9, finished_at = $10, " +
        "worker = $11, outputs = $12, log_path = $13, error = $14 WHERE id = $1 AND cache_name = $2 AND installable = $3 AND requested_at = $8";

    private const string GetBuildSql = "SELECT " + BuildRows.BuildColumns + " FROM builds WHERE id = $1";

    private const string ListBuildsSql =
        "SELECT " + BuildRows.BuildColumns + " FROM builds WHERE ($1::text IS NULL OR cache_name = $1) " +
        "AND ($2::text IS NULL OR installable = $2) AND ($3::text IS NULL OR status = $3) " +
        "ORDER BY requested_at DESC, id DESC LIMIT $4";

    private const string AddAttemptSql =
        "INSERT INTO build_attempts (" + BuildRows.AttemptColumns + ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";

    private const string ListAttemptsSql =
        "SELECT " + BuildRows.AttemptColumns + " FROM build_attempts WHERE ($1::text IS NULL OR build_id = $1) " +
        "AND ($2::text IS NULL OR installable = $2) ORDER BY finished_at DESC, build_id DESC, attempt DESC LIMIT $3";

    public Task EnqueueBuildAsync(BuildRecord build, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(build);
        return RunAsync(build, static async (connection, b, ct) =>
        {
            await using var command = WithValues(PostgresCommands.Create(connection, EnqueueBuildSql), BuildRows.BuildValues(b), BuildTypes);
            if (await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 0)
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
        return RunAsync((lanes, worker, when), static async (connection, s, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, TakeBuildSql)
                .With(ToUnix(s.when)).With(s.worker).With(s.lanes.ToArray());
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            return await reader.ReadAsync(ct).ConfigureAwait(false) ? BuildRows.Build(reader) : null;
        }, cancellationToken);
    }

    public Task UpdateBuildAsync(BuildRecord build, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(build);
        return RunAsync(build, static async (connection, b, ct) =>
        {
            await using var command = WithValues(PostgresCommands.Create(connection, UpdateBuildSql), BuildRows.BuildValues(b), BuildTypes);
            if (await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 0)
            {
                throw new CacheException(CacheError.NotFound, $"no build '{b.Id}'");
            }

            return true;
        }, cancellationToken);
    }

    public Task<BuildRecord?> GetBuildAsync(string id, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(id);
        return RunAsync(id, static async (connection, id, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, GetBuildSql).With(id);
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            return await reader.ReadAsync(ct).ConfigureAwait(false) ? BuildRows.Build(reader) : null;
        }, cancellationToken);
    }

    public Task<IReadOnlyList<BuildRecord>> ListBuildsAsync(BuildQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        return RunAsync(query, static async (connection, q, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, ListBuildsSql)
                .WithNullable(q.Cache, NpgsqlDbType.Text)
                .WithNullable(q.Installable, NpgsqlDbType.Text)
                .WithNullable(q.Status is { } status ? BuildRows.Status(status) : null, NpgsqlDbType.Text)
                .With((long)q.Limit);
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var builds = new List<BuildRecord>();
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                builds.Add(BuildRows.Build(reader));
            }

            return (IReadOnlyList<BuildRecord>)builds;
        }, cancellationToken);
    }

    public Task AddBuildAttemptAsync(BuildAttemptRecord attempt, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        return RunAsync(attempt, static async (connection, a, ct) =>
        {
            await using var command = WithValues(PostgresCommands.Create(connection, AddAttemptSql), BuildRows.AttemptValues(a), AttemptTypes);
            try
            {
                return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.ForeignKeyViolation)
            {
                throw new CacheException(CacheError.NotFound, $"no build '{a.BuildId}'", e);
            }
        }, cancellationToken);
    }

    public Task<IReadOnlyList<BuildAttemptRecord>> ListBuildAttemptsAsync(string? buildId, string? installable, int limit, CancellationToken cancellationToken) =>
        RunAsync((buildId, installable, limit), static async (connection, s, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, ListAttemptsSql)
                .WithNullable(s.buildId, NpgsqlDbType.Text)
                .WithNullable(s.installable, NpgsqlDbType.Text)
                .With((long)s.limit);
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var attempts = new List<BuildAttemptRecord>();
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                attempts.Add(BuildRows.Attempt(reader));
            }

            return (IReadOnlyList<BuildAttemptRecord>)attempts;
        }, cancellationToken);

    private static readonly NpgsqlDbType[] BuildTypes =
    [
        NpgsqlDbType.Text, NpgsqlDbType.Text, NpgsqlDbType.Text, NpgsqlDbType.Text, NpgsqlDbType.Text, NpgsqlDbType.Text, NpgsqlDbType.Integer,
        NpgsqlDbType.Bigint, NpgsqlDbType.Bigint, NpgsqlDbType.Bigint, NpgsqlDbType.Text, NpgsqlDbType.Text, NpgsqlDbType.Text, NpgsqlDbType.Text,
    ];

    private static readonly NpgsqlDbType[] AttemptTypes =
    [
        NpgsqlDbType.Text, NpgsqlDbType.Integer, NpgsqlDbType.Text, NpgsqlDbType.Text, NpgsqlDbType.Text, NpgsqlDbType.Integer,
        NpgsqlDbType.Bigint, NpgsqlDbType.Text, NpgsqlDbType.Integer, NpgsqlDbType.Integer, NpgsqlDbType.Text, NpgsqlDbType.Bigint, NpgsqlDbType.Bigint,
    ];

    private static NpgsqlCommand WithValues(NpgsqlCommand command, object[] values, NpgsqlDbType[] types)
    {
        for (var i = 0; i < values.Length; i++)
        {
            command.WithNullable(values[i] is DBNull ? null : values[i], types[i]);
        }

        return command;
    }
}
