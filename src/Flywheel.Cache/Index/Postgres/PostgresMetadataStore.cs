using Flywheel.Cache.Index.Migrations;
using Npgsql;

namespace Flywheel.Cache.Index.Postgres;

/// <summary>
/// The shared index: one PostgreSQL database that any number of gateways use at once. Every operation rents a
/// pooled connection from an <see cref="NpgsqlDataSource"/> and runs one statement; batches travel as array
/// parameters (<c>= ANY($n)</c>, <c>unnest(…) WITH ORDINALITY</c>), one statement per batch of any size.
/// Statements use positional parameters and are auto-prepared per physical connection (see
/// <see cref="ApplyDefaults"/>). Times are unix milliseconds from the injected <see cref="TimeProvider"/> or the
/// caller's argument. Connection failures, server shutdowns and timeouts become <see cref="CacheError.Unavailable"/>.
/// </summary>
public sealed partial class PostgresMetadataStore : MetadataIndex, IMetadataIndex, IAsyncDisposable, IDisposable
{
    /// <summary>The dialect folder of this store's migrations (<c>Index/Migrations/Postgres/</c>).</summary>
    public const string MigrationDialect = "postgres";

    /// <summary>
    /// The <c>pg_advisory_lock</c> key every migrating gateway takes first ("Flywheel" in ASCII), so that one
    /// applies each script while the others wait and then find it applied.
    /// </summary>
    public const long MigrationLockKey = 0x466C_7977_6865_656C;

    /// <summary>The <c>pg_try_advisory_lock</c> key of the maintenance (GC) lock ("FlywheeG").</summary>
    public const long MaintenanceLockKey = 0x466C_7977_6865_6547;

    private const string CreateMigrationsTableSql =
        "CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)";

    private readonly NpgsqlDataSource _dataSource;
    private readonly bool _ownsDataSource;
    private readonly string _description;

    /// <summary>
    /// A store on the database of <paramref name="connectionString"/>, with its own connection pool. Settings the
    /// string leaves out get this store's defaults (<see cref="ApplyDefaults"/>).
    /// </summary>
    public PostgresMetadataStore(string connectionString, TimeProvider? time = null)
        : this(NpgsqlDataSource.Create(ApplyDefaults(connectionString)), ownsDataSource: true, time)
    {
    }

    /// <summary>
    /// A store on a data source the caller built and disposes (it is not disposed with the store).
    /// Its connection string is used as is: set <c>Max Auto Prepare</c> on it for prepared hot statements.
    /// </summary>
    public PostgresMetadataStore(NpgsqlDataSource dataSource, TimeProvider? time = null)
        : this(dataSource ?? throw new ArgumentNullException(nameof(dataSource)), ownsDataSource: false, time)
    {
    }

    private PostgresMetadataStore(NpgsqlDataSource dataSource, bool ownsDataSource, TimeProvider? time)
        : base(SqlDialect.Postgres, time)
    {
        _dataSource = dataSource;
        _ownsDataSource = ownsDataSource;
        var settings = new NpgsqlConnectionStringBuilder(dataSource.ConnectionString);
        _description = $"'{settings.Host}:{settings.Port}/{settings.Database}'";
    }

    /// <summary>
    /// <paramref name="connectionString"/> with this store's defaults for what it does not set itself:
    /// <c>Max Auto Prepare=64</c> (hot statements are prepared once per physical connection),
    /// <c>Timeout=5</c> (seconds to connect), <c>Command Timeout=30</c> and <c>Application Name=flywheel</c>.
    /// </summary>
    public static string ApplyDefaults(string connectionString)
    {
        ArgumentNullException.ThrowIfNull(connectionString);
        var given = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connectionString };
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        if (!given.ContainsKey("Max Auto Prepare") && !given.ContainsKey("MaxAutoPrepare"))
        {
            builder.MaxAutoPrepare = 64;
        }

        if (!given.ContainsKey("Timeout"))
        {
            builder.Timeout = 5;
        }

        if (!given.ContainsKey("Command Timeout") && !given.ContainsKey("CommandTimeout"))
        {
            builder.CommandTimeout = 30;
        }

        if (!given.ContainsKey("Application Name") && !given.ContainsKey("ApplicationName"))
        {
            builder.ApplicationName = "flywheel";
        }

        return builder.ConnectionString;
    }

    /// <summary>
    /// Applies pending scripts of <see cref="MigrationDialect"/> under <c>pg_advisory_lock(</c><see cref="MigrationLockKey"/><c>)</c>
    /// held on one connection: each script and its <c>schema_migrations</c> row in one transaction.
    /// </summary>
    public Task MigrateAsync(CancellationToken cancellationToken) => RunAsync(this, static async (connection, store, ct) =>
    {
        var scripts = MigrationScript.Load(MigrationDialect);
        await using (var lockCommand = new NpgsqlCommand("SELECT pg_advisory_lock($1)", connection) { CommandTimeout = 0 })
        {
            lockCommand.Parameters.Add(new NpgsqlParameter<long> { TypedValue = MigrationLockKey });
            await lockCommand.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        try
        {
            await using (var create = new NpgsqlCommand(CreateMigrationsTableSql, connection))
            {
                await create.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            var applied = new HashSet<string>(StringComparer.Ordinal);
            await using (var select = new NpgsqlCommand("SELECT id FROM schema_migrations", connection))
            await using (var reader = await select.ExecuteReaderAsync(ct).ConfigureAwait(false))
            {
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
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

                await using var transaction = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
                await using (var apply = new NpgsqlCommand(script.Sql, connection, transaction) { CommandTimeout = 0 })
                {
                    await apply.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }

                await using (var record = new NpgsqlCommand("INSERT INTO schema_migrations (id, applied_at) VALUES ($1, $2)", connection, transaction))
                {
                    record.Parameters.Add(new NpgsqlParameter<string> { TypedValue = script.Id });
                    record.Parameters.Add(new NpgsqlParameter<long> { TypedValue = store.Now() });
                    await record.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }

                await transaction.CommitAsync(ct).ConfigureAwait(false);
            }
        }
        finally
        {
            // A broken connection has lost the lock with its session; an open one must give it back before it
            // returns to the pool.
            if (connection.State == System.Data.ConnectionState.Open)
            {
                await using var unlock = new NpgsqlCommand("SELECT pg_advisory_unlock($1)", connection);
                unlock.Parameters.Add(new NpgsqlParameter<long> { TypedValue = MigrationLockKey });
                await unlock.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
            }
        }

        return true;
    }, cancellationToken);

    public Task CheckHealthAsync(CancellationToken cancellationToken) => RunAsync(0, static async (connection, _, ct) =>
    {
        await using var command = new NpgsqlCommand("SELECT 1", connection);
        await command.ExecuteScalarAsync(ct).ConfigureAwait(false);
        return true;
    }, cancellationToken);

    public async ValueTask DisposeAsync()
    {
        if (_ownsDataSource)
        {
            await _dataSource.DisposeAsync().ConfigureAwait(false);
        }
    }

    public void Dispose()
    {
        if (_ownsDataSource)
        {
            _dataSource.Dispose();
        }
    }

    private protected override Task<TResult> UseConnectionAsync<TState, TResult>(
        TState state, Func<IndexConnection, TState, CancellationToken, Task<TResult>> work, CancellationToken cancellationToken) =>
        RunAsync((state, work), static (connection, s, ct) => s.work(new PostgresIndexConnection(connection), s.state, ct), cancellationToken);

    /// <summary>
    /// Runs <paramref name="operation"/> on a pooled connection. PostgreSQL errors that mean the index cannot be
    /// used become <see cref="CacheError.Unavailable"/> (and drop the pool's idle connections when the server
    /// went away, so the next call connects afresh); constraint violations become NotFound or Conflict.
    /// </summary>
    private async Task<TResult> RunAsync<TState, TResult>(
        TState state, Func<NpgsqlConnection, TState, CancellationToken, Task<TResult>> operation, CancellationToken cancellationToken)
    {
        NpgsqlConnection? connection = null;
        try
        {
            connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            return await operation(connection, state, cancellationToken).ConfigureAwait(false);
        }
        catch (NpgsqlException e) when (PostgresErrors.Translate(e, _description) is { } error)
        {
            if (PostgresErrors.IsConnectionLost(e))
            {
                _dataSource.Clear();
            }

            throw error;
        }
        finally
        {
            if (connection is not null)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// The maintenance lock is a session-level advisory lock held on a connection of its own for as long as the
    /// holder keeps it; it is released on dispose, or by the server when that connection dies with its gateway.
    /// </summary>
    public override async Task<IAsyncDisposable?> TryAcquireMaintenanceLockAsync(CancellationToken cancellationToken)
    {
        NpgsqlConnection? connection = null;
        try
        {
            connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using var command = new NpgsqlCommand("SELECT pg_try_advisory_lock($1)", connection);
            command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = MaintenanceLockKey });
            if (await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is true)
            {
                var held = new AdvisoryLock(connection);
                connection = null;
                return held;
            }

            return null;
        }
        catch (NpgsqlException e) when (PostgresErrors.Translate(e, _description) is { } error)
        {
            throw error;
        }
        finally
        {
            if (connection is not null)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private sealed class AdvisoryLock(NpgsqlConnection connection) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            try
            {
                await using var unlock = new NpgsqlCommand("SELECT pg_advisory_unlock($1)", connection);
                unlock.Parameters.Add(new NpgsqlParameter<long> { TypedValue = MaintenanceLockKey });
                await unlock.ExecuteNonQueryAsync().ConfigureAwait(false);
            }
            finally
            {
                await connection.DisposeAsync().ConfigureAwait(false); // a broken connection releases the lock server-side
            }
        }
    }
}
