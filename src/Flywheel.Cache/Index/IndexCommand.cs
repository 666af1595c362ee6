using System.Data.Common;
using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Index;

/// <summary>
/// One statement being bound and run on a rented connection of either dialect. Parameters are positional: the
/// n-th one added is <c>$n</c> in the statement's text, in both dialects.
/// </summary>
internal abstract class IndexCommand : IAsyncDisposable
{
    public abstract IndexCommand Add(long value);

    public abstract IndexCommand Add(int value);

    public abstract IndexCommand Add(bool value);

    public abstract IndexCommand Add(string value);

    public abstract IndexCommand Add(byte[] value);

    public abstract IndexCommand AddNullable(string? value);

    public abstract IndexCommand AddNullable(long? value);

    public abstract IndexCommand AddNullable(int? value);

    public abstract IndexCommand Add(ReadOnlyMemory<byte> value);

    /// <summary>A list of strings, read in SQL through <see cref="SqlDialect.StringList"/>.</summary>
    public abstract IndexCommand AddStrings(IReadOnlyCollection<string> values);

    /// <summary>A list of digests, read in SQL through <see cref="SqlDialect.DigestList"/>.</summary>
    public abstract IndexCommand AddDigests(IReadOnlyCollection<BlobDigest> values);

    /// <summary>A list of integers, read in SQL through <see cref="SqlDialect.LongList"/>.</summary>
    public abstract IndexCommand AddLongs(IReadOnlyCollection<long> values);

    public IndexCommand Add(BlobDigest digest) => Add(digest.ToBytes());

    /// <summary>A time, as the index stores it: unix milliseconds.</summary>
    public IndexCommand Add(DateTimeOffset time) => Add(time.ToUnixTimeMilliseconds());

    public IndexCommand AddNullable(DateTimeOffset? time) => AddNullable(time?.ToUnixTimeMilliseconds());

    public abstract Task<int> ExecuteAsync(CancellationToken cancellationToken);

    public abstract Task<DbDataReader> ReadAsync(CancellationToken cancellationToken);

    public abstract ValueTask DisposeAsync();
}

/// <summary>
/// A connection of either dialect, rented by <see cref="MetadataIndex"/> for one operation: it
/// makes commands, reads digests its driver's cheapest way and runs transactions; the ways to run a statement are
/// written once here.
/// </summary>
internal abstract class IndexConnection
{
    public abstract IndexCommand Command(string sql);

    public abstract BlobDigest ReadDigest(DbDataReader reader, int ordinal);

    /// <summary>
    /// Runs <paramref name="work"/> in one transaction (SQLite: BEGIN IMMEDIATE, one writer at a time), committed when
    /// it returns and rolled back when it throws.
    /// </summary>
    public abstract Task<TResult> InTransactionAsync<TState, TResult>(
        TState state, Func<IndexConnection, TState, CancellationToken, Task<TResult>> work, CancellationToken cancellationToken);

    /// <summary>Runs a statement; returns how many rows it changed.</summary>
    public async Task<int> ExecuteAsync<TState>(string sql, TState state, Action<IndexCommand, TState> bind, CancellationToken cancellationToken)
    {
        await using var command = Command(sql);
        bind(command, state);
        return await command.ExecuteAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The first row of a query as a record, or null when there is none.</summary>
    public async Task<TRow?> QueryFirstAsync<TState, TRow>(
        string sql, TState state, Action<IndexCommand, TState> bind, Func<IndexConnection, DbDataReader, TRow> read, CancellationToken cancellationToken)
        where TRow : class
    {
        await using var command = Command(sql);
        bind(command, state);
        await using var reader = await command.ReadAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? read(this, reader) : null;
    }

    /// <summary>Every row of a query as records.</summary>
    public async Task<List<TRow>> QueryAsync<TState, TRow>(
        string sql, TState state, Action<IndexCommand, TState> bind, Func<IndexConnection, DbDataReader, TRow> read, CancellationToken cancellationToken)
    {
        await using var command = Command(sql);
        bind(command, state);
        await using var reader = await command.ReadAsync(cancellationToken).ConfigureAwait(false);
        var rows = new List<TRow>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            rows.Add(read(this, reader));
        }

        return rows;
    }
}
