using Flywheel.Cache.Storage;
using Microsoft.Data.Sqlite;

namespace Flywheel.Cache.Index.Sqlite;

/// <summary>
/// One open SQLite connection, configured once (WAL, busy timeout, foreign keys), with its prepared commands
/// kept for reuse: a pooled session runs a hot statement without parsing or preparing it again.
/// </summary>
internal sealed class SqliteSession : IDisposable
{
    private const int BusyTimeoutMilliseconds = 10_000;

    private readonly Dictionary<string, SqliteCommand> _commands = new(ReferenceEqualityComparer.Instance);
    private readonly byte[] _digestScratch = new byte[32];

    private SqliteSession(SqliteConnection connection)
    {
        Connection = connection;
    }

    public SqliteConnection Connection { get; }

    public bool IsReusable => Connection.State == System.Data.ConnectionState.Open;

    public static SqliteSession Open(string connectionString)
    {
        var connection = new SqliteConnection(connectionString);
        try
        {
            connection.Open();
            using var pragma = connection.CreateCommand();
            pragma.CommandText =
                $"PRAGMA busy_timeout = {BusyTimeoutMilliseconds}; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;";
            pragma.ExecuteNonQuery();
            return new SqliteSession(connection);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The prepared command for <paramref name="sql"/> (a constant: commands are cached by reference),
    /// with parameters named <paramref name="parameterNames"/> in that order, to be set by index.
    /// </summary>
    public SqliteCommand Command(string sql, params ReadOnlySpan<string> parameterNames)
    {
        if (!_commands.TryGetValue(sql, out var command))
        {
            command = Connection.CreateCommand();
            command.CommandText = sql;
            foreach (var name in parameterNames)
            {
                command.Parameters.Add(new SqliteParameter { ParameterName = name });
            }

            _commands.Add(sql, command);
        }

        command.Transaction = null;
        return command;
    }

    public BlobDigest ReadDigest(SqliteDataReader reader, int ordinal)
    {
        var read = reader.GetBytes(ordinal, 0, _digestScratch, 0, _digestScratch.Length);
        if (read != _digestScratch.Length)
        {
            throw new InvalidDataException($"a stored digest has {read} bytes, not 32");
        }

        return BlobDigest.FromBytes(_digestScratch);
    }

    public void Dispose()
    {
        foreach (var command in _commands.Values)
        {
            command.Dispose();
        }

        _commands.Clear();
        Connection.Dispose();
    }
}
