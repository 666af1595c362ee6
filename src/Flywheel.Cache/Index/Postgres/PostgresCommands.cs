using Flywheel.Cache.Storage;
using Npgsql;
using NpgsqlTypes;

namespace Flywheel.Cache.Index.Postgres;

/// <summary>
/// Building and reading commands with positional (<c>$n</c>) parameters: Npgsql sends such SQL untouched, so a
/// statement's text is a constant that auto-prepare recognizes on every pooled connection.
/// </summary>
internal static class PostgresCommands
{
    public static NpgsqlCommand Create(NpgsqlConnection connection, string sql) => new(sql, connection);

    public static NpgsqlCommand With<T>(this NpgsqlCommand command, T value)
    {
        command.Parameters.Add(new NpgsqlParameter<T> { TypedValue = value });
        return command;
    }

    /// <summary>A parameter that may be NULL, typed so that PostgreSQL need not infer it.</summary>
    public static NpgsqlCommand WithNullable(this NpgsqlCommand command, object? value, NpgsqlDbType type)
    {
        command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = type, Value = value ?? DBNull.Value });
        return command;
    }

    /// <summary>A <c>bytea[]</c> parameter of the digests' 32 bytes each.</summary>
    public static NpgsqlCommand WithDigests(this NpgsqlCommand command, IReadOnlyCollection<BlobDigest> digests)
    {
        var array = new byte[digests.Count][];
        var i = 0;
        foreach (var digest in digests)
        {
            array[i++] = digest.ToBytes();
        }

        command.Parameters.Add(new NpgsqlParameter<byte[][]> { TypedValue = array, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bytea });
        return command;
    }

    public static BlobDigest GetDigest(this NpgsqlDataReader reader, int ordinal)
    {
        var bytes = reader.GetFieldValue<byte[]>(ordinal);
        if (bytes.Length != BlobDigest.ByteLength)
        {
            throw new InvalidDataException($"a stored digest has {bytes.Length} bytes, not {BlobDigest.ByteLength}");
        }

        return BlobDigest.FromBytes(bytes);
    }
}
