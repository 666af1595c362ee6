using Npgsql;
using NpgsqlTypes;

namespace Flywheel.Cache.Index.Postgres;

public sealed partial class PostgresMetadataStore
{
    private const string EnqueueBuildSql =
        "INSERT INTO builds (" + BuildRows.BuildColumns + ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) " +
        "ON CONFLICT (id) DO NOTHING";

    // Workers on many machines: SKIP LOCKED lets each claim a different row without waiting on the others.
    private const string TakeBuildSql =
        "UPDATE builds SET status = 'running', attempt = attempt + 1, started_at = $1, finished_at = NULL, worker = $2, " +
        "heartbeat_at = $1, leased_until = $4, phase = NULL, phase_started_at = NULL " +
        "WHERE id = (SELECT id FROM builds WHERE status = 'queued' AND lane = ANY($3) " +
        "ORDER BY requested_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) " +
        "RETURNING " + BuildRows.BuildColumns;

    private const string RenewLeaseSql =
        "UPDATE builds SET heartbeat_at = $1, leased_until = $2 WHERE id = $3 AND status = 'running' AND worker = $4 AND attempt = $5";

    private const string SetPhaseSql =
        "UPDATE builds SET phase = $1, phase_started_at = $2 WHERE id = $3 AND status = 'running' AND worker = $4 AND attempt = $5";

    // The guard (running, taken by this worker, this attempt) makes a worker whose lease ended unable to overwrite the build.
    private const string FinishBuildSql =
        "UPDATE builds SET lane = $4, lane_reason = $5, status = $6, started_at = $9, finished_at = $10, worker = $11, outputs = $12, " +
        "log_path = $13, error = $14, heartbeat_at = $15, leased_until = $16, phase = $17, phase_started_at = $18 " +
        "WHERE id = $1 AND cache_name = $2 AND installable = $3 AND requested_at = $8 AND status = 'running' AND worker = $19 AND attempt = $7";

    // Many workers may reclaim at once: each locks the rows it handles and skips those another holds.
    private const string ExpiredBuildsSql =
        "SELECT " + BuildRows.BuildColumns + ", (SELECT COUNT(*) FROM build_attempts AS a WHERE a.build_id = builds.id AND a.outcome = 'lost')::integer " +
        "FROM builds WHERE status = 'running' AND leased_until < $1 ORDER BY leased_until, id LIMIT $2 FOR UPDATE SKIP LOCKED";

    private const string ReclaimBuildSql =
        "UPDATE builds SET status = $1, finished_at = $2, leased_until = NULL, phase = NULL, phase_started_at = NULL, error = $3 " +
        "WHERE id = $4 AND status = 'running' AND attempt = $5";

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

    public Task<BuildRecord?> TakeBuildAsync(
        IReadOnlyCollection<string> lanes, string worker, DateTimeOffset when, DateTimeOffset leasedUntil, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lanes);
        ArgumentNullException.ThrowIfNull(worker);
        return RunAsync((lanes, worker, when, leasedUntil), static async (connection, s, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, TakeBuildSql)
                .With(ToUnix(s.when)).With(s.worker).With(s.lanes.ToArray()).With(ToUnix(s.leasedUntil));
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            return await reader.ReadAsync(ct).ConfigureAwait(false) ? BuildRows.Build(reader) : null;
        }, cancellationToken);
    }

    public Task<bool> RenewBuildLeaseAsync(string id, string worker, int attempt, DateTimeOffset when, DateTimeOffset leasedUntil, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(id);
        ArgumentNullException.ThrowIfNull(worker);
        return RunAsync((id, worker, attempt, when, leasedUntil), static async (connection, s, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, RenewLeaseSql)
                .With(ToUnix(s.when)).With(ToUnix(s.leasedUntil)).With(s.id).With(s.worker).With(s.attempt);
            return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 1;
        }, cancellationToken);
    }

    public Task<bool> SetBuildPhaseAsync(string id, string worker, int attempt, string phase, DateTimeOffset when, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(id);
        ArgumentNullException.ThrowIfNull(worker);
        ArgumentNullException.ThrowIfNull(phase);
        return RunAsync((id, worker, attempt, phase, when), static async (connection, s, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, SetPhaseSql)
                .With(s.phase).With(ToUnix(s.when)).With(s.id).With(s.worker).With(s.attempt);
            return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 1;
        }, cancellationToken);
    }

    public Task FinishBuildAttemptAsync(BuildRecord build, string worker, BuildAttemptRecord? attempt, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(build);
        ArgumentNullException.ThrowIfNull(worker);
        return RunAsync((build, worker, attempt), static async (connection, s, ct) =>
        {
            await using var transaction = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
            await using (var update = WithValues(PostgresCommands.Create(connection, FinishBuildSql), BuildRows.BuildValues(s.build), BuildTypes).With(s.worker))
            {
                update.Transaction = transaction;
                if (await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 0)
                {
                    await using var get = PostgresCommands.Create(connection, GetBuildSql).With(s.build.Id);
                    get.Transaction = transaction;
                    await using var reader = await get.ExecuteReaderAsync(ct).ConfigureAwait(false);
                    throw await reader.ReadAsync(ct).ConfigureAwait(false)
                        ? new CacheException(CacheError.Conflict, BuildLeases.NotHeld(s.build, s.worker, BuildRows.Build(reader)))
                        : new CacheException(CacheError.NotFound, $"no build '{s.build.Id}'");
                }
            }

            if (s.attempt is not null)
            {
                await InsertAttemptAsync(connection, transaction, s.attempt, ct).ConfigureAwait(false);
            }

            await transaction.CommitAsync(ct).ConfigureAwait(false);
            return true;
        }, cancellationToken);
    }

    public Task<IReadOnlyList<BuildRecord>> ReclaimExpiredBuildsAsync(DateTimeOffset when, int maxLost, CancellationToken cancellationToken) =>
        RunAsync((when, maxLost), static async (connection, s, ct) =>
        {
            await using var transaction = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
            var expired = new List<(BuildRecord Build, int LostBefore)>();
            await using (var select = PostgresCommands.Create(connection, ExpiredBuildsSql).With(ToUnix(s.when)).With((long)BuildLeases.MaxReclaimedPerCall))
            {
                select.Transaction = transaction;
                await using var reader = await select.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    expired.Add((BuildRows.Build(reader), reader.GetInt32(BuildRows.BuildColumnCount)));
                }
            }

            var reclaimed = new List<BuildRecord>(expired.Count);
            foreach (var (build, lostBefore) in expired)
            {
                var (next, lost) = BuildLeases.Reclaim(build, lostBefore, s.maxLost, s.when);
                await using var update = PostgresCommands.Create(connection, ReclaimBuildSql)
                    .With(BuildRows.Status(next.Status)).WithNullable(ToUnix(next.FinishedAt), NpgsqlDbType.Bigint)
                    .WithNullable(next.Error, NpgsqlDbType.Text).With(next.Id).With(next.Attempt);
                update.Transaction = transaction;
                if (await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 1)
                {
                    await InsertAttemptAsync(connection, transaction, lost, ct).ConfigureAwait(false);
                    reclaimed.Add(next);
                }
            }

            await transaction.CommitAsync(ct).ConfigureAwait(false);
            return (IReadOnlyList<BuildRecord>)reclaimed;
        }, cancellationToken);

    public Task<IReadOnlyList<BuildCount>> CountActiveBuildsAsync(CancellationToken cancellationToken) =>
        RunAsync(0, static async (connection, _, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, BuildRows.CountActiveSql);
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var counts = new List<BuildCount>();
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                counts.Add(new BuildCount(reader.GetString(0), BuildRows.ParseStatus(reader.GetString(1)), reader.GetInt64(2)));
            }

            return (IReadOnlyList<BuildCount>)counts;
        }, cancellationToken);

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

    public Task<IReadOnlyList<BuildAttemptRecord>> ListBuildAttemptsAsync(string? buildId, string? installable, int limit, CancellationToken cancellationToken) =>
        RunAsync((buildId, installable, limit), static async (connection, s, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, ListAttemptsSql)
                .WithNullable(s.buildId, NpgsqlDbType.Text)
                .WithNullable(s.installable, NpgsqlDbType.Text)
                .With((long)s.limit);
            return await ReadAttemptsAsync(command, ct).ConfigureAwait(false);
        }, cancellationToken);

    private static readonly string AttemptsByInstallableSql =
        BuildRows.WithParameters(BuildRows.AttemptsByInstallableSql, "$1", "$2", "$3", "$4", "$5");

    public Task<IReadOnlyList<BuildAttemptRecord>> ListBuildAttemptsByInstallableAsync(BuildAttemptRecord? after, int limit, CancellationToken cancellationToken) =>
        RunAsync((after, limit), static async (connection, s, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, AttemptsByInstallableSql)
                .With(s.after?.Installable ?? "")
                .With(s.after is { } a ? ToUnix(a.FinishedAt) : long.MinValue)
                .With(s.after?.BuildId ?? "")
                .With(s.after?.Attempt ?? int.MinValue)
                .With((long)s.limit);
            return await ReadAttemptsAsync(command, ct).ConfigureAwait(false);
        }, cancellationToken);

    private static readonly NpgsqlDbType[] BuildTypes =
    [
        NpgsqlDbType.Text, NpgsqlDbType.Text, NpgsqlDbType.Text, NpgsqlDbType.Text, NpgsqlDbType.Text, NpgsqlDbType.Text, NpgsqlDbType.Integer,
        NpgsqlDbType.Bigint, NpgsqlDbType.Bigint, NpgsqlDbType.Bigint, NpgsqlDbType.Text, NpgsqlDbType.Text, NpgsqlDbType.Text, NpgsqlDbType.Text,
        NpgsqlDbType.Bigint, NpgsqlDbType.Bigint, NpgsqlDbType.Text, NpgsqlDbType.Bigint,
    ];

    private static readonly NpgsqlDbType[] AttemptTypes =
    [
        NpgsqlDbType.Text, NpgsqlDbType.Integer, NpgsqlDbType.Text, NpgsqlDbType.Text, NpgsqlDbType.Text, NpgsqlDbType.Integer,
        NpgsqlDbType.Bigint, NpgsqlDbType.Text, NpgsqlDbType.Integer, NpgsqlDbType.Integer, NpgsqlDbType.Text, NpgsqlDbType.Bigint, NpgsqlDbType.Bigint,
    ];

    private static async Task<IReadOnlyList<BuildAttemptRecord>> ReadAttemptsAsync(NpgsqlCommand command, CancellationToken ct)
    {
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        var attempts = new List<BuildAttemptRecord>();
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            attempts.Add(BuildRows.Attempt(reader));
        }

        return attempts;
    }

    private static async Task InsertAttemptAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, BuildAttemptRecord attempt, CancellationToken ct)
    {
        await using var insert = WithValues(PostgresCommands.Create(connection, AddAttemptSql), BuildRows.AttemptValues(attempt), AttemptTypes);
        insert.Transaction = transaction;
        await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private static NpgsqlCommand WithValues(NpgsqlCommand command, object[] values, NpgsqlDbType[] types)
    {
        for (var i = 0; i < values.Length; i++)
        {
            command.WithNullable(values[i] is DBNull ? null : values[i], types[i]);
        }

        return command;
    }
}
