using System.Data.Common;
using Flywheel.Cache.Storage;
using Microsoft.Data.Sqlite;

namespace Flywheel.Cache.Index.Sqlite;

/// <summary>
/// A pooled <see cref="SqliteSession"/> as an <see cref="IndexConnection"/>: each statement text is prepared once per
/// session and reused, its <c>$n</c> parameters set by position.
/// </summary>
internal sealed class SqliteIndexConnection(SqliteSession session) : IndexConnection
{
    private SqliteTransaction? _transaction;

    public override IndexCommand Command(string sql)
    {
        var command = session.Command(sql);
        command.Transaction = _transaction;
        return new SqliteIndexCommand(command);
    }

    public override BlobDigest ReadDigest(DbDataReader reader, int ordinal) => session.ReadDigest((SqliteDataReader)reader, ordinal);

    public override async Task<TResult> InTransactionAsync<TState, TResult>(
        TState state, Func<IndexConnection, TState, CancellationToken, Task<TResult>> work, CancellationToken cancellationToken)
    {
        using var transaction = session.Connection.BeginTransaction(deferred: false); // BEGIN IMMEDIATE: no upgrade deadlock
        _transaction = transaction;
        try
        {
            var result = await work(this, state, cancellationToken).ConfigureAwait(false);
            transaction.Commit();
            return result;
        }
        finally
        {
            _transaction = null;
        }
    }

    private sealed class SqliteIndexCommand(SqliteCommand command) : IndexCommand
    {
        private int _next;

        public override IndexCommand Add(long value) => Set(value);

        public override IndexCommand Add(int value) => Set(value);

        public override IndexCommand Add(bool value) => Set(value);

        public override IndexCommand Add(string value) => Set(value);

        public override IndexCommand Add(byte[] value) => Set(value);

        public override IndexCommand AddNullable(string? value) => Set(value ?? (object)DBNull.Value);

        public override IndexCommand AddNullable(long? value) => Set(value.HasValue ? value.Value : DBNull.Value);

        public override IndexCommand AddNullable(int? value) => Set(value.HasValue ? value.Value : DBNull.Value);

        public override IndexCommand Add(ReadOnlyMemory<byte> value) => Set(value.ToArray()); // Microsoft.Data.Sqlite binds whole arrays only

        public override IndexCommand AddStrings(IReadOnlyCollection<string> values) => Set(SqliteJson.StringArray(values));

        public override IndexCommand AddDigests(IReadOnlyCollection<BlobDigest> values) =>
            Set(SqliteJson.DigestArray(values as IReadOnlyList<BlobDigest> ?? [.. values]));

        public override IndexCommand AddLongs(IReadOnlyCollection<long> values) => Set(SqliteJson.LongArray(values));

        public override Task<int> ExecuteAsync(CancellationToken cancellationToken) => Task.FromResult(command.ExecuteNonQuery());

        public override Task<DbDataReader> ReadAsync(CancellationToken cancellationToken) => Task.FromResult<DbDataReader>(command.ExecuteReader());

        public override ValueTask DisposeAsync() => ValueTask.CompletedTask; // the session keeps the prepared command

        private SqliteIndexCommand Set(object value)
        {
            var parameters = command.Parameters;
            if (parameters.Count == _next)
            {
                parameters.Add(new SqliteParameter { ParameterName = "$" + (_next + 1).ToString(System.Globalization.CultureInfo.InvariantCulture) });
            }

            parameters[_next++].Value = value;
            return this;
        }
    }
}
