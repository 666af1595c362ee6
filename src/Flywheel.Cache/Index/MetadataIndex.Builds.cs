namespace Flywheel.Cache.Index;

public abstract partial class MetadataIndex : IBuildStore
{
    private const string EnqueueBuildSql =
        "INSERT INTO builds (" + BuildRows.BuildColumns + ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) " +
        "ON CONFLICT (id) DO NOTHING";

    // One statement claims one row. SQLite runs writes one at a time, so the inner SELECT and the UPDATE see the same
    // queue; PostgreSQL workers on many machines skip the rows another is claiming instead of waiting on them.
    private static readonly DialectSql TakeBuildSql = new(d =>
        "UPDATE builds SET status = 'running', attempt = attempt + 1, started_at = $1, finished_at = NULL, worker = $2, " +
        "heartbeat_at = $1, leased_until = $4, phase = NULL, phase_started_at = NULL " +
        "WHERE status = 'queued' AND id = (SELECT id FROM builds WHERE status = 'queued' " +
        $"AND lane IN (SELECT l.value FROM {d.StringList("$3", "l")}) ORDER BY requested_at, id LIMIT 1{d.RowLock("FOR UPDATE SKIP LOCKED")}) " +
        "RETURNING " + BuildRows.BuildColumns);

    private const string RenewLeaseSql =
        "UPDATE builds SET heartbeat_at = $1, leased_until = $2 WHERE id = $3 AND status = 'running' AND worker = $4 AND attempt = $5";

    private const string SetPhaseSql =
        "UPDATE builds SET phase = $1, phase_started_at = $2 WHERE id = $3 AND status = 'running' AND worker = $4 AND attempt = $5";

    // The guard (running, taken by this worker, this attempt) makes a worker whose lease ended unable to overwrite the build.
    private const string FinishBuildSql =
        "UPDATE builds SET lane = $4, lane_reason = $5, status = $6, started_at = $9, finished_at = $10, worker = $11, outputs = $12, " +
        "log_path = $13, error = $14, heartbeat_at = $15, leased_until = $16, phase = $17, phase_started_at = $18 " +
        "WHERE id = $1 AND cache_name = $2 AND installable = $3 AND requested_at = $8 AND status = 'running' AND worker = $19 AND attempt = $7";

    // Many PostgreSQL reclaimers may run at once: each locks the rows it handles and skips those another holds.
    private static readonly DialectSql ExpiredBuildsSql = new(d =>
        "SELECT " + BuildRows.BuildColumns + ", CAST((SELECT COUNT(*) FROM build_attempts AS a WHERE a.build_id = builds.id AND a.outcome = 'lost') AS INTEGER) " +
        $"FROM builds WHERE status = 'running' AND leased_until < $1 ORDER BY leased_until, id LIMIT $2{d.RowLock("FOR UPDATE SKIP LOCKED")}");

    private const string ReclaimBuildSql =
        "UPDATE builds SET status = $1, finished_at = $2, leased_until = NULL, phase = NULL, phase_started_at = NULL, error = $3 " +
        "WHERE id = $4 AND status = 'running' AND attempt = $5";

    private const string CountActiveSql = "SELECT lane, status, COUNT(*) FROM builds WHERE status IN ('queued', 'running') GROUP BY lane, status";

    private const string GetBuildSql = "SELECT " + BuildRows.BuildColumns + " FROM builds WHERE id = $1";

    private const string ListBuildsSql =
        "SELECT " + BuildRows.BuildColumns + " FROM builds WHERE (CAST($1 AS TEXT) IS NULL OR cache_name = $1) " +
        "AND (CAST($2 AS TEXT) IS NULL OR installable = $2) AND (CAST($3 AS TEXT) IS NULL OR status = $3) " +
        "ORDER BY requested_at DESC, id DESC LIMIT $4";

    private const string AddAttemptSql =
        "INSERT INTO build_attempts (" + BuildRows.AttemptColumns + ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";

    private const string ListAttemptsSql =
        "SELECT " + BuildRows.AttemptColumns + " FROM build_attempts WHERE (CAST($1 AS TEXT) IS NULL OR build_id = $1) " +
        "AND (CAST($2 AS TEXT) IS NULL OR installable = $2) ORDER BY finished_at DESC, build_id DESC, attempt DESC LIMIT $3";

    // After a cursor (installable, finished_at, build_id, attempt).
    private const string AttemptsByInstallableSql =
        "SELECT " + BuildRows.AttemptColumns + " FROM build_attempts WHERE (installable, finished_at, build_id, attempt) > ($1, $2, $3, $4) " +
        "ORDER BY installable, finished_at, build_id, attempt LIMIT $5";

    public async Task EnqueueBuildAsync(BuildRecord build, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(build);
        if (await ExecuteAsync(EnqueueBuildSql, build, static (c, b) => c.AddBuild(b), cancellationToken).ConfigureAwait(false) == 0)
        {
            throw new CacheException(CacheError.Conflict, $"a build with id '{build.Id}' exists already");
        }
    }

    public Task<BuildRecord?> TakeBuildAsync(
        IReadOnlyCollection<string> lanes, string worker, DateTimeOffset when, DateTimeOffset leasedUntil, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lanes);
        ArgumentNullException.ThrowIfNull(worker);
        return QueryFirstAsync(TakeBuildSql.For(Dialect), (lanes, worker, when, leasedUntil),
            static (c, s) => c.Add(s.when).Add(s.worker).AddStrings(s.lanes).Add(s.leasedUntil), ReadBuild, cancellationToken);
    }

    public async Task<bool> RenewBuildLeaseAsync(
        string id, string worker, int attempt, DateTimeOffset when, DateTimeOffset leasedUntil, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(id);
        ArgumentNullException.ThrowIfNull(worker);
        return await ExecuteAsync(RenewLeaseSql, (id, worker, attempt, when, leasedUntil),
            static (c, s) => c.Add(s.when).Add(s.leasedUntil).Add(s.id).Add(s.worker).Add(s.attempt), cancellationToken).ConfigureAwait(false) == 1;
    }

    public async Task<bool> SetBuildPhaseAsync(string id, string worker, int attempt, string phase, DateTimeOffset when, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(id);
        ArgumentNullException.ThrowIfNull(worker);
        ArgumentNullException.ThrowIfNull(phase);
        return await ExecuteAsync(SetPhaseSql, (id, worker, attempt, phase, when),
            static (c, s) => c.Add(s.phase).Add(s.when).Add(s.id).Add(s.worker).Add(s.attempt), cancellationToken).ConfigureAwait(false) == 1;
    }

    public Task FinishBuildAttemptAsync(BuildRecord build, string worker, BuildAttemptRecord? attempt, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(build);
        ArgumentNullException.ThrowIfNull(worker);
        return UseConnectionAsync((build, worker, attempt), static (connection, s, ct) =>
            connection.InTransactionAsync(s, static async (connection, s, ct) =>
            {
                if (await connection.ExecuteAsync(FinishBuildSql, s, static (c, s) => c.AddBuild(s.build).Add(s.worker), ct).ConfigureAwait(false) == 0)
                {
                    var stored = await connection.QueryFirstAsync(GetBuildSql, s.build.Id, static (c, id) => c.Add(id), ReadBuild, ct).ConfigureAwait(false);
                    throw stored is not null
                        ? new CacheException(CacheError.Conflict, BuildLeases.NotHeld(s.build, s.worker, stored))
                        : new CacheException(CacheError.NotFound, $"no build '{s.build.Id}'");
                }

                if (s.attempt is not null)
                {
                    await connection.ExecuteAsync(AddAttemptSql, s.attempt, static (c, a) => c.AddAttempt(a), ct).ConfigureAwait(false);
                }

                return true;
            }, ct), cancellationToken);
    }

    public Task<IReadOnlyList<BuildRecord>> ReclaimExpiredBuildsAsync(DateTimeOffset when, int maxLost, CancellationToken cancellationToken) =>
        UseConnectionAsync((when, maxLost, expired: ExpiredBuildsSql.For(Dialect)), static (connection, s, ct) =>
            connection.InTransactionAsync(s, static async (connection, s, ct) =>
            {
                var expired = await connection.QueryAsync(s.expired, s.when, static (c, when) => c.Add(when).Add((long)BuildLeases.MaxReclaimedPerCall),
                    static (_, r) => (Build: BuildRows.Build(r), LostBefore: r.GetInt32(BuildRows.BuildColumnCount)), ct).ConfigureAwait(false);
                var reclaimed = new List<BuildRecord>(expired.Count);
                foreach (var (build, lostBefore) in expired)
                {
                    var (next, lost) = BuildLeases.Reclaim(build, lostBefore, s.maxLost, s.when);
                    if (await connection.ExecuteAsync(ReclaimBuildSql, next, static (c, b) => c
                            .Add(BuildRows.Status(b.Status)).AddNullable(b.FinishedAt).AddNullable(b.Error).Add(b.Id).Add(b.Attempt), ct).ConfigureAwait(false) == 1)
                    {
                        await connection.ExecuteAsync(AddAttemptSql, lost, static (c, a) => c.AddAttempt(a), ct).ConfigureAwait(false);
                        reclaimed.Add(next);
                    }
                }

                return (IReadOnlyList<BuildRecord>)reclaimed;
            }, ct), cancellationToken);

    public Task<IReadOnlyList<BuildCount>> CountActiveBuildsAsync(CancellationToken cancellationToken) =>
        QueryAsync(CountActiveSql, 0, NoParameters,
            static (_, r) => new BuildCount(r.GetString(0), BuildRows.ParseStatus(r.GetString(1)), r.GetInt64(2)), cancellationToken);

    public Task<BuildRecord?> GetBuildAsync(string id, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(id);
        return QueryFirstAsync(GetBuildSql, id, static (c, id) => c.Add(id), ReadBuild, cancellationToken);
    }

    public Task<IReadOnlyList<BuildRecord>> ListBuildsAsync(BuildQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        return QueryAsync(ListBuildsSql, query, static (c, q) => c
            .AddNullable(q.Cache).AddNullable(q.Installable).AddNullable(q.Status is { } status ? BuildRows.Status(status) : null).Add((long)q.Limit),
            ReadBuild, cancellationToken);
    }

    public Task<IReadOnlyList<BuildAttemptRecord>> ListBuildAttemptsAsync(string? buildId, string? installable, int limit, CancellationToken cancellationToken) =>
        QueryAsync(ListAttemptsSql, (buildId, installable, limit), static (c, s) => c.AddNullable(s.buildId).AddNullable(s.installable).Add((long)s.limit),
            ReadAttempt, cancellationToken);

    public Task<IReadOnlyList<BuildAttemptRecord>> ListBuildAttemptsByInstallableAsync(BuildAttemptRecord? after, int limit, CancellationToken cancellationToken) =>
        QueryAsync(AttemptsByInstallableSql, (after, limit), static (c, s) => c
            .Add(s.after?.Installable ?? "").Add(s.after?.FinishedAt.ToUnixTimeMilliseconds() ?? long.MinValue).Add(s.after?.BuildId ?? "")
            .Add(s.after?.Attempt ?? int.MinValue).Add((long)s.limit), ReadAttempt, cancellationToken);

    private static BuildRecord ReadBuild(IndexConnection connection, System.Data.Common.DbDataReader reader) => BuildRows.Build(reader);

    private static BuildAttemptRecord ReadAttempt(IndexConnection connection, System.Data.Common.DbDataReader reader) => BuildRows.Attempt(reader);
}
