using System.Data.Common;
using Flywheel.Cache.Storage;
using Npgsql;
using NpgsqlTypes;

namespace Flywheel.Cache.Index.Postgres;

/// <summary>
/// A pooled <see cref="NpgsqlConnection"/> as an <see cref="IndexConnection"/>: statements go with typed positional
/// parameters, untouched by Npgsql, so auto-prepare recognizes each text on every physical connection.
/// </summary>
internal sealed class PostgresIndexConnection(NpgsqlConnection connection) : IndexConnection
{
    public override IndexCommand Command(string sql) => new PostgresIndexCommand(PostgresCommands.Create(connection, sql));

    public override BlobDigest ReadDigest(DbDataReader reader, int ordinal) => ((NpgsqlDataReader)reader).GetDigest(ordinal);

    public override async Task<TResult> InTransactionAsync<TState, TResult>(
        TState state, Func<IndexConnection, TState, CancellationToken, Task<TResult>> work, CancellationToken cancellationToken)
    {
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        var result = await work(this, state, cancellationToken).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return result;
    }

    private sealed class PostgresIndexCommand(NpgsqlCommand command) : IndexCommand
    {
        public override IndexCommand Add(long value) => Typed(value);

        public override IndexCommand Add(int value) => Typed(value);

        public override IndexCommand Add(bool value) => Typed(value);

        public override IndexCommand Add(string value) => Typed(value);

        public override IndexCommand Add(byte[] value) => Typed(value);

        public override IndexCommand AddNullable(string? value)
        {
            command.WithNullable(value, NpgsqlDbType.Text);
            return this;
        }

        public override IndexCommand AddNullable(long? value)
        {
            command.WithNullable(value, NpgsqlDbType.Bigint);
            return this;
        }

        public override IndexCommand AddNullable(int? value)
        {
            command.WithNullable(value, NpgsqlDbType.Integer);
            return this;
        }

        public override IndexCommand Add(ReadOnlyMemory<byte> value) => Typed(value); // written as bytea, no copy

        public override IndexCommand AddStrings(IReadOnlyCollection<string> values)
        {
            command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. values], NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
            return this;
        }

        public override IndexCommand AddDigests(IReadOnlyCollection<BlobDigest> values)
        {
            command.WithDigests(values);
            return this;
        }

        public override IndexCommand AddLongs(IReadOnlyCollection<long> values)
        {
            command.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = [.. values], NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bigint });
            return this;
        }

        public override Task<int> ExecuteAsync(CancellationToken cancellationToken) => command.ExecuteNonQueryAsync(cancellationToken);

        public override async Task<DbDataReader> ReadAsync(CancellationToken cancellationToken) =>
            await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);

        public override ValueTask DisposeAsync() => command.DisposeAsync();

        private PostgresIndexCommand Typed<T>(T value)
        {
            command.With(value);
            return this;
        }
    }
}
