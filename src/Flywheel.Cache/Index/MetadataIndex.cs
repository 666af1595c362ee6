using System.Data.Common;

namespace Flywheel.Cache.Index;

/// <summary>
/// The SQL index, written once for both dialects: each aggregate store whose statements are the same in SQLite and
/// PostgreSQL is implemented here, in a partial file of its own (<c>MetadataIndex.&lt;Aggregate&gt;.cs</c>), against
/// a rented <see cref="IndexConnection"/> and the named differences of <see cref="SqlDialect"/>. The dialect classes
/// (<see cref="Sqlite.SqliteMetadataStore"/>, <see cref="Postgres.PostgresMetadataStore"/>) supply connections,
/// error translation, migrations and locks, and the aggregates still written per dialect (the hot paths among them).
/// Times are unix milliseconds from the injected <see cref="TimeProvider"/> or the caller's argument.
/// </summary>
public abstract partial class MetadataIndex
{
    private protected MetadataIndex(SqlDialect dialect, TimeProvider? time)
    {
        Dialect = dialect;
        Time = time ?? TimeProvider.System;
    }

    /// <summary>The dialect of this index's statements.</summary>
    public SqlDialect Dialect { get; }

    private protected TimeProvider Time { get; }

    private protected long Now() => Time.GetUtcNow().ToUnixTimeMilliseconds();

    private protected static long ToUnix(DateTimeOffset time) => time.ToUnixTimeMilliseconds();

    private protected static long? ToUnix(DateTimeOffset? time) => time?.ToUnixTimeMilliseconds();

    private protected static DateTimeOffset FromUnix(long milliseconds) => IndexRows.FromUnix(milliseconds);

    /// <summary>
    /// Runs <paramref name="work"/> on a connection rented for it. Errors that mean the index cannot be used become
    /// <see cref="CacheError.Unavailable"/>; a missing referenced cache <see cref="CacheError.NotFound"/>.
    /// </summary>
    private protected abstract Task<TResult> UseConnectionAsync<TState, TResult>(
        TState state, Func<IndexConnection, TState, CancellationToken, Task<TResult>> work, CancellationToken cancellationToken);

    /// <summary>One statement on a rented connection; how many rows it changed.</summary>
    private protected Task<int> ExecuteAsync<TState>(string sql, TState state, Action<IndexCommand, TState> bind, CancellationToken cancellationToken) =>
        UseConnectionAsync((sql, state, bind), static (connection, s, ct) => connection.ExecuteAsync(s.sql, s.state, s.bind, ct), cancellationToken);

    /// <summary>One query on a rented connection: its first row, or null.</summary>
    private protected Task<TRow?> QueryFirstAsync<TState, TRow>(
        string sql, TState state, Action<IndexCommand, TState> bind, Func<IndexConnection, DbDataReader, TRow> read, CancellationToken cancellationToken)
        where TRow : class =>
        UseConnectionAsync((sql, state, bind, read), static (connection, s, ct) => connection.QueryFirstAsync(s.sql, s.state, s.bind, s.read, ct), cancellationToken);

    /// <summary>One query on a rented connection: all its rows.</summary>
    private protected async Task<IReadOnlyList<TRow>> QueryAsync<TState, TRow>(
        string sql, TState state, Action<IndexCommand, TState> bind, Func<IndexConnection, DbDataReader, TRow> read, CancellationToken cancellationToken) =>
        await UseConnectionAsync((sql, state, bind, read), static (connection, s, ct) => connection.QueryAsync(s.sql, s.state, s.bind, s.read, ct), cancellationToken)
            .ConfigureAwait(false);

    /// <summary>Binds nothing, for statements without parameters.</summary>
    private protected static void NoParameters(IndexCommand command, int state)
    {
    }
}
