using System.Collections.Concurrent;

namespace Flywheel.Cache.Index.Sqlite;

/// <summary>
/// A small pool of open <see cref="SqliteSession"/>s: an operation rents one, runs, and returns it. At most
/// <c>maxIdle</c> sessions are kept; any number may be out at once (SQLite serializes writers itself).
/// </summary>
internal sealed class SqliteSessionPool : IDisposable
{
    private readonly string _connectionString;
    private readonly int _maxIdle;
    private readonly ConcurrentQueue<SqliteSession> _idle = new();
    private int _idleCount;
    private volatile bool _disposed;

    public SqliteSessionPool(string connectionString, int maxIdle)
    {
        _connectionString = connectionString;
        _maxIdle = maxIdle;
    }

    public SqliteSession Rent()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_idle.TryDequeue(out var session))
        {
            Interlocked.Decrement(ref _idleCount);
            return session;
        }

        return SqliteSession.Open(_connectionString);
    }

    public void Return(SqliteSession session)
    {
        if (!_disposed && session.IsReusable)
        {
            if (Interlocked.Increment(ref _idleCount) <= _maxIdle)
            {
                _idle.Enqueue(session);
                if (!_disposed)
                {
                    return;
                }

                Drain();
                return;
            }

            Interlocked.Decrement(ref _idleCount);
        }

        session.Dispose();
    }

    public void Dispose()
    {
        _disposed = true;
        Drain();
    }

    private void Drain()
    {
        while (_idle.TryDequeue(out var session))
        {
            Interlocked.Decrement(ref _idleCount);
            session.Dispose();
        }
    }
}
