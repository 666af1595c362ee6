using Flywheel.Cache.Index.Migrations;
using Microsoft.Data.Sqlite;

namespace Flywheel.Cache.Index.Sqlite;

/// <summary>
/// The embedded index: one SQLite file in WAL mode, shared safely by concurrent calls and by several
/// processes. Every operation rents a pooled connection whose prepared statements are reused; batches go
/// to SQLite as one JSON array parameter read with <c>json_each</c>, one statement per batch.
/// Times are unix milliseconds from the injected <see cref="TimeProvider"/> or the caller's argument.
/// </summary>
public sealed partial class SqliteMetadataStore : MetadataIndex, IMetadataIndex, IDisposable
{
    /// <summary>The dialect folder of this store's migrations (<c>Index/Migrations/Sqlite/</c>).</summary>
    public const string MigrationDialect = "sqlite";

    private readonly SqliteSessionPool _pool;
    private readonly string _description;

    /// <summary>A store on the database file at <paramref name="databasePath"/> (created when missing; its directory must exist).</summary>
    public SqliteMetadataStore(string databasePath, TimeProvider? time = null)
        : this(new SqliteConnectionStringBuilder { DataSource = Path.GetFullPath(databasePath), Mode = SqliteOpenMode.ReadWriteCreate }, time)
    {
    }

    /// <summary>
    /// A store on any SQLite connection string, e.g. a shared in-memory database
    /// (<c>Data Source=name;Mode=Memory;Cache=Shared</c>), which lives while the store holds a connection to it.
    /// Pooling is done by the store; the builder's own pooling setting is overridden.
    /// </summary>
    public SqliteMetadataStore(SqliteConnectionStringBuilder connection, TimeProvider? time = null)
        : base(SqlDialect.Sqlite, time)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var builder = new SqliteConnectionStringBuilder(connection.ConnectionString) { Pooling = false };
        _description = builder.DataSource;
        _pool = new SqliteSessionPool(builder.ConnectionString, maxIdle: Math.Clamp(Environment.ProcessorCount * 2, 4, 32));
    }

    public Task MigrateAsync(CancellationToken cancellationToken) => RunAsync(this, static (session, store) =>
    {
        var scripts = MigrationScript.Load(MigrationDialect);
        using var transaction = session.Connection.BeginTransaction(deferred: false); // BEGIN IMMEDIATE: one migrator at a time
        using (var create = session.Connection.CreateCommand())
        {
            create.Transaction = transaction;
            create.CommandText = "CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)";
            create.ExecuteNonQuery();
        }

        var applied = new HashSet<string>(StringComparer.Ordinal);
        using (var select = session.Connection.CreateCommand())
        {
            select.Transaction = transaction;
            select.CommandText = "SELECT id FROM schema_migrations";
            using var reader = select.ExecuteReader();
            while (reader.Read())
            {
                applied.Add(reader.GetString(0));
            }
        }

        foreach (var script in scripts)
        {
            if (applied.Contains(script.Id))
            {
                continue;
            }

            using var apply = session.Connection.CreateCommand();
            apply.Transaction = transaction;
            apply.CommandText = script.Sql;
            apply.ExecuteNonQuery();

            using var record = session.Connection.CreateCommand();
            record.Transaction = transaction;
            record.CommandText = "INSERT INTO schema_migrations (id, applied_at) VALUES (@id, @applied_at)";
            record.Parameters.AddWithValue("@id", script.Id);
            record.Parameters.AddWithValue("@applied_at", store.Now());
            record.ExecuteNonQuery();
        }

        transaction.Commit();
        return true;
    }, cancellationToken);

    public Task CheckHealthAsync(CancellationToken cancellationToken) => RunAsync(this, static (session, _) =>
    {
        var command = session.Command("SELECT 1");
        command.ExecuteScalar();
        return true;
    }, cancellationToken);

    public void Dispose() => _pool.Dispose();

    /// <summary>
    /// Runs <paramref name="operation"/> on a pooled session and returns its result as a completed task
    /// (Microsoft.Data.Sqlite is synchronous underneath). SQLite errors that mean the database cannot be
    /// used become <see cref="CacheError.Unavailable"/>.
    /// </summary>
    private Task<TResult> RunAsync<TState, TResult>(
        TState state, Func<SqliteSession, TState, TResult> operation, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<TResult>(cancellationToken);
        }

        try
        {
            return Task.FromResult(Run(state, operation));
        }
        catch (Exception e)
        {
            return Task.FromException<TResult>(e);
        }
    }

    private protected override async Task<TResult> UseConnectionAsync<TState, TResult>(
        TState state, Func<IndexConnection, TState, CancellationToken, Task<TResult>> work, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var session = Rent();
        try
        {
            return await work(new SqliteIndexConnection(session), state, cancellationToken).ConfigureAwait(false);
        }
        catch (SqliteException e) when (Translate(e) is { } error)
        {
            throw error;
        }
        finally
        {
            _pool.Return(session);
        }
    }

    private SqliteSession Rent()
    {
        try
        {
            return _pool.Rent();
        }
        catch (SqliteException e)
        {
            throw new CacheException(CacheError.Unavailable, $"cannot open the SQLite index '{_description}': {e.Message}", e);
        }
    }

    private TResult Run<TState, TResult>(TState state, Func<SqliteSession, TState, TResult> operation)
    {
        var session = Rent();
        try
        {
            return operation(session, state);
        }
        catch (SqliteException e) when (Translate(e) is { } error)
        {
            throw error;
        }
        finally
        {
            _pool.Return(session);
        }
    }

    private CacheException? Translate(SqliteException e) => e.SqliteExtendedErrorCode switch
    {
        787 /* SQLITE_CONSTRAINT_FOREIGNKEY */ => new CacheException(CacheError.NotFound, "no such cache", e),
        _ => e.SqliteErrorCode switch
        {
            5 /* BUSY */ or 6 /* LOCKED */ or 10 /* IOERR */ or 11 /* CORRUPT */ or 13 /* FULL */ or 14 /* CANTOPEN */ or 26 /* NOTADB */ =>
                new CacheException(CacheError.Unavailable, $"the SQLite index '{_description}' is unavailable: {e.Message}", e),
            _ => null,
        },
    };

    /// <summary>
    /// The embedded index serves one machine: the maintenance lock is an exclusive lock on a file next to the
    /// database (across processes), or a process-wide one for in-memory databases.
    /// </summary>
    public override Task<IAsyncDisposable?> TryAcquireMaintenanceLockAsync(CancellationToken cancellationToken)
    {
        if (Path.IsPathRooted(_description))
        {
            try
            {
                var file = new FileStream(_description + ".maintenance-lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
                return Task.FromResult<IAsyncDisposable?>(file);
            }
            catch (IOException)
            {
                return Task.FromResult<IAsyncDisposable?>(null); // held by another process or store
            }
        }

        var gate = MemoryLocks.GetOrAdd(_description, _ => new SemaphoreSlim(1, 1));
        return Task.FromResult<IAsyncDisposable?>(gate.Wait(0) ? new Releaser(gate) : null);
    }

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, SemaphoreSlim> MemoryLocks = new(StringComparer.Ordinal);

    private sealed class Releaser(SemaphoreSlim gate) : IAsyncDisposable
    {
        private int _released;

        public ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                gate.Release();
            }

            return ValueTask.CompletedTask;
        }
    }
}
