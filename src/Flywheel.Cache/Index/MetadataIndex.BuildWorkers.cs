namespace Flywheel.Cache.Index;

public abstract partial class MetadataIndex : IBuildWorkerStore
{
    private const string UpsertWorkerSql =
        "INSERT INTO build_workers (worker, lane, host, last_seen) VALUES ($1, $2, $3, $4) " +
        "ON CONFLICT (worker, lane) DO UPDATE SET host = excluded.host, last_seen = excluded.last_seen";

    private const string ForgetWorkersSql = "DELETE FROM build_workers WHERE last_seen < $1";

    private const string ListWorkersSql = "SELECT worker, lane, host, last_seen FROM build_workers WHERE last_seen >= $1 ORDER BY lane, worker";

    private const string RemoveWorkerSql = "DELETE FROM build_workers WHERE worker = $1";

    public Task RecordBuildWorkerAsync(
        string worker, string host, IReadOnlyCollection<string> lanes, DateTimeOffset when, DateTimeOffset forgetBefore, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(worker);
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(lanes);
        return UseConnectionAsync((worker, host, lanes, when, forgetBefore), static (connection, s, ct) =>
            connection.InTransactionAsync(s, static async (connection, s, ct) =>
            {
                foreach (var lane in s.lanes)
                {
                    await connection.ExecuteAsync(UpsertWorkerSql, (s.worker, lane, s.host, s.when),
                        static (c, u) => c.Add(u.worker).Add(u.lane).Add(u.host).Add(u.when), ct).ConfigureAwait(false);
                }

                return await connection.ExecuteAsync(ForgetWorkersSql, s.forgetBefore, static (c, before) => c.Add(before), ct).ConfigureAwait(false);
            }, ct), cancellationToken);
    }

    public Task<IReadOnlyList<BuildWorkerRecord>> ListBuildWorkersAsync(DateTimeOffset seenSince, CancellationToken cancellationToken) =>
        QueryAsync(ListWorkersSql, seenSince, static (c, since) => c.Add(since), static (_, r) => BuildRows.Worker(r), cancellationToken);

    public Task RemoveBuildWorkerAsync(string worker, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(worker);
        return ExecuteAsync(RemoveWorkerSql, worker, static (c, w) => c.Add(w), cancellationToken);
    }
}
