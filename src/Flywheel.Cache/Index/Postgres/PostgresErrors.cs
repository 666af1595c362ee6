using System.Net.Sockets;
using Npgsql;

namespace Flywheel.Cache.Index.Postgres;

/// <summary>
/// PostgreSQL errors in the core's vocabulary: what means the index cannot be used now (connection refused or
/// lost, server shutting down or starting, timeouts, exhausted resources) is <see cref="CacheError.Unavailable"/>;
/// a missing referenced cache is <see cref="CacheError.NotFound"/>; a taken unique key is <see cref="CacheError.Conflict"/>.
/// Anything else (a bug in our SQL) is not translated and surfaces as it is.
/// </summary>
internal static class PostgresErrors
{
    public static CacheException? Translate(NpgsqlException e, string description)
    {
        if (e is PostgresException p)
        {
            return p.SqlState switch
            {
                PostgresErrorCodes.ForeignKeyViolation => new CacheException(CacheError.NotFound, "no such cache", e),
                PostgresErrorCodes.UniqueViolation =>
                    new CacheException(CacheError.Conflict, $"PostgreSQL index {description}: {p.ConstraintName ?? "a unique key"} is taken", e),
                _ when IsUnavailable(p.SqlState) =>
                    new CacheException(CacheError.Unavailable, $"PostgreSQL index {description} is unavailable: {e.Message}", e),
                _ => null,
            };
        }

        // Not an error the server sent: the connection could not be opened or broke (I/O, socket, timeout, pool exhausted).
        return new CacheException(CacheError.Unavailable, $"PostgreSQL index {description} is unavailable: {e.Message}", e);
    }

    /// <summary>Whether the pooled connections are likely dead too (the server went away or is restarting).</summary>
    public static bool IsConnectionLost(NpgsqlException e) => e switch
    {
        PostgresException p => p.SqlState.StartsWith("08", StringComparison.Ordinal)
            || p.SqlState is PostgresErrorCodes.AdminShutdown or PostgresErrorCodes.CrashShutdown or PostgresErrorCodes.CannotConnectNow,
        _ => e.InnerException is IOException or SocketException || e.InnerException?.InnerException is SocketException,
    };

    private static bool IsUnavailable(string sqlState) =>
        sqlState.StartsWith("08", StringComparison.Ordinal) // connection exception
        || sqlState.StartsWith("53", StringComparison.Ordinal) // insufficient resources: disk full, out of memory, too many connections
        || sqlState.StartsWith("58", StringComparison.Ordinal) // system error: I/O
        || sqlState is PostgresErrorCodes.AdminShutdown
            or PostgresErrorCodes.CrashShutdown
            or PostgresErrorCodes.CannotConnectNow
            or PostgresErrorCodes.DatabaseDropped
            or PostgresErrorCodes.QueryCanceled // statement_timeout or a cancelled command timeout
            or PostgresErrorCodes.LockNotAvailable
            or PostgresErrorCodes.SerializationFailure
            or PostgresErrorCodes.DeadlockDetected
            or PostgresErrorCodes.ReadOnlySqlTransaction; // a failed-over primary that is now a standby
}
