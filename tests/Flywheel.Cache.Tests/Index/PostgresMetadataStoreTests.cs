using System.Diagnostics;
using Flywheel.Cache.Index;
using Flywheel.Cache.Index.Migrations;
using Flywheel.Cache.Index.Postgres;
using Flywheel.Cache.Index.Sqlite;
using Flywheel.Cache.Tests.Infrastructure;
using Npgsql;

namespace Flywheel.Cache.Tests.Index;

/// <summary>
/// The metadata store contract against a real PostgreSQL server (one per test class, a database per test and key),
/// plus what only PostgreSQL has: advisory-locked migrations, array batches in one statement, and a server that goes away.
/// </summary>
public sealed class PostgresMetadataStoreTests : MetadataStoreContract, IClassFixture<PostgresServer>
{
    private readonly PostgresServer _server;
    private readonly string _prefix = "t" + Guid.NewGuid().ToString("N")[..12];
    private readonly Dictionary<string, string> _databases = new(StringComparer.Ordinal);

    public PostgresMetadataStoreTests(PostgresServer server)
    {
        _server = server;
    }

    protected override IMetadataIndex CreateStore(TimeProvider time, string database) =>
        new PostgresMetadataStore(_server.ConnectionString(Database(database)), time);

    protected override async Task CleanupAsync()
    {
        foreach (var name in _databases.Values)
        {
            await _server.DropDatabaseAsync(name);
        }
    }

    /// <summary>The server database behind a contract database key, created on first use.</summary>
    private string Database(string key)
    {
        if (!_databases.TryGetValue(key, out var name))
        {
            name = $"{_prefix}_{key}";
            _server.CreateDatabase(name);
            _databases.Add(key, name);
        }

        return name;
    }

    private async Task<object?> ScalarAsync(string sql, string database = "main")
    {
        await using var connection = new NpgsqlConnection(_server.ConnectionString(Database(database)) + ";Pooling=false");
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync();
    }

    // ---------------------------------------------------------------- migrations

    [Fact]
    public void Both_dialects_have_the_same_migration_ids()
    {
        var sqlite = MigrationScript.Load(SqliteMetadataStore.MigrationDialect).Select(s => s.Id).ToList();
        var postgres = MigrationScript.Load(PostgresMetadataStore.MigrationDialect).Select(s => s.Id).ToList();

        Assert.NotEmpty(postgres);
        Assert.Equal(sqlite, postgres);
        Assert.All(postgres, id => Assert.Matches(@"^\d{8}_\d{4}_[a-z0-9_]+$", id));
    }

    /// <summary>
    /// Both folders of scripts, applied from scratch, must leave the same tables with the same columns in the same
    /// order, of the same type and nullability, up to the named dialect differences of <see cref="SqliteColumnAsPostgres"/>.
    /// </summary>
    [Fact]
    public async Task Both_dialects_migrate_to_the_same_tables_and_columns()
    {
        var sqliteFolder = Path.Combine(Path.GetTempPath(), "flywheel-schema-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(sqliteFolder);
        var sqlite = new List<string>();
        try
        {
            var path = Path.Combine(sqliteFolder, "index.db");
            using (var store = new SqliteMetadataStore(path))
            {
                await store.MigrateAsync(None);
            }

            using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path};Pooling=false");
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText =
                "SELECT m.name, c.name, c.type, c.\"notnull\", c.pk, (SELECT count(*) FROM pragma_table_info(m.name) k WHERE k.pk > 0) " +
                "FROM sqlite_master m, pragma_table_info(m.name) c " +
                "WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, c.cid";
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                sqlite.Add(SqliteColumnAsPostgres(
                    reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetInt64(3) == 1, reader.GetInt64(4) > 0, reader.GetInt64(5) == 1));
            }
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(sqliteFolder, recursive: true);
        }

        var postgres = new List<string>();
        await using (var connection = new NpgsqlConnection(_server.ConnectionString(Database("main")) + ";Pooling=false"))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand(
                "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns " +
                "WHERE table_schema = 'public' ORDER BY table_name COLLATE \"C\", ordinal_position", connection);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                postgres.Add($"{reader.GetString(0)}.{reader.GetString(1)} {reader.GetString(2)}{(reader.GetString(3) == "NO" ? " not null" : "")}");
            }
        }

        Assert.Contains("caches.id bigint not null", postgres);
        Assert.True(postgres.Count > 50, $"only {postgres.Count} columns read from PostgreSQL");
        Assert.Equal(postgres, sqlite);
    }

    /// <summary>
    /// A SQLite column as PostgreSQL would spell it: the named dialect differences are BLOB for BYTEA, the rowid
    /// <c>INTEGER PRIMARY KEY</c> (the only key column: an alias of the rowid) for a <c>BIGINT</c> identity, and a primary
    /// key column being NOT NULL without saying so.
    /// </summary>
    private static string SqliteColumnAsPostgres(string table, string column, string type, bool notNull, bool primaryKey, bool onlyKeyColumn)
    {
        var postgresType = type.ToUpperInvariant() switch
        {
            "BLOB" => "bytea",
            "INTEGER" when primaryKey && onlyKeyColumn => "bigint",
            "INTEGER" or "INT" => "integer",
            "BIGINT" => "bigint",
            "TEXT" => "text",
            "BOOLEAN" => "boolean",
            var other => "unknown sqlite type " + other,
        };
        return $"{table}.{column} {postgresType}{(notNull || primaryKey ? " not null" : "")}";
    }

    [Fact]
    public async Task Every_embedded_migration_is_recorded_once_and_the_lock_is_released()
    {
        var scripts = MigrationScript.Load(PostgresMetadataStore.MigrationDialect);

        Assert.Equal((long)scripts.Count, await ScalarAsync("SELECT count(*) FROM schema_migrations"));
        Assert.Equal(scripts[0].Id, await ScalarAsync("SELECT min(id) FROM schema_migrations"));
        Assert.Equal(0L, await ScalarAsync("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"));
    }

    [Fact]
    public async Task Four_stores_migrating_one_fresh_database_at_once_leave_exactly_one_schema()
    {
        var stores = Enumerable.Range(0, 4).Select(_ => NewStore("race")).ToList();

        await Task.WhenAll(stores.Select(s => Task.Run(() => s.MigrateAsync(None))));

        var scripts = MigrationScript.Load(PostgresMetadataStore.MigrationDialect);
        Assert.Equal((long)scripts.Count, await ScalarAsync("SELECT count(DISTINCT id) FROM schema_migrations", "race"));
        Assert.Equal((long)scripts.Count, await ScalarAsync("SELECT count(*) FROM schema_migrations", "race"));
        Assert.Equal(9L, await ScalarAsync(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name IN " +
            "('settings', 'caches', 'tokens', 'nar_files', 'narinfos', 'cache_files', 'blobs', 'action_results', 'schema_migrations')", "race"));
        Assert.Equal(0L, await ScalarAsync("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'", "race"));
    }

    // ---------------------------------------------------------------- batches

    [Fact]
    public async Task Find_missing_sized_blobs_asks_ten_thousand_digests_in_one_statement()
    {
        var cache = await CreateCacheIdAsync();
        var all = Enumerable.Range(0, 10_000).Select(i => new SizedBlob(Digest(i), i)).ToList();
        for (var i = 0; i < all.Count; i += 100)
        {
            await OwnAsync(cache, all[i].Digest, all[i].Size);
        }

        await Store.FindMissingSizedBlobsAsync(cache, all.Take(10).ToList(), None); // connect and warm up outside the count
        var commands = new List<string>();
        using var parent = new Activity("ten-thousand").Start();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Npgsql",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
            ActivityStarted = activity =>
            {
                if (activity.TraceId == parent.TraceId)
                {
                    lock (commands)
                    {
                        commands.Add(activity.DisplayName);
                    }
                }
            },
        };
        ActivitySource.AddActivityListener(listener);

        var clock = Stopwatch.StartNew();
        var missing = await Store.FindMissingSizedBlobsAsync(cache, all, None);
        clock.Stop();

        Assert.Equal(Enumerable.Range(0, 10_000).Where(i => i % 100 != 0), missing);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"10,000 blobs took {clock.Elapsed}");
        Assert.Single(commands);
    }

    [Fact]
    public async Task Touching_blobs_moves_last_access_forward_only()
    {
        var cache = await CreateCacheIdAsync();
        var digest = Digest("blob");
        await Store.RecordBlobAsync(digest, 5, Time.GetUtcNow(), None);
        var later = Time.GetUtcNow().AddHours(2);

        await Store.AddCacheBlobsAsync(cache, [digest], later, None);
        await Store.AddCacheBlobsAsync(cache, [digest], later.AddHours(-1), None);
        await Store.RecordBlobAsync(digest, 999, later, None);
        await Store.RecordBlobAsync(digest, 999, later.AddHours(-1), None);

        Assert.Equal(later.ToUnixTimeMilliseconds(), await ScalarAsync("SELECT last_access FROM cache_blobs"));
        Assert.Equal(later.ToUnixTimeMilliseconds(), await ScalarAsync("SELECT last_access FROM blobs"));
        Assert.Equal(Time.GetUtcNow().ToUnixTimeMilliseconds(), await ScalarAsync("SELECT created_at FROM blobs"));
        Assert.Equal(5L, await ScalarAsync("SELECT size FROM blobs"));
    }

    [Fact]
    public async Task Overlapping_touch_batches_from_several_stores_do_not_deadlock()
    {
        var cache = await CreateCacheIdAsync();
        var digests = Enumerable.Range(0, 500).Select(Digest).ToList();
        foreach (var digest in digests)
        {
            await Store.RecordBlobAsync(digest, 1, Time.GetUtcNow(), None);
        }

        var stores = new[] { Store, NewStore(), NewStore() };
        await Task.WhenAll(Enumerable.Range(0, 24).Select(i => Task.Run(() =>
        {
            var order = i % 2 == 0 ? digests : Enumerable.Reverse(digests).ToList();
            return stores[i % stores.Length].AddCacheBlobsAsync(cache, order, Time.GetUtcNow().AddSeconds(i + 1), None);
        })));

        Assert.Equal(Time.GetUtcNow().AddSeconds(24).ToUnixTimeMilliseconds(), await ScalarAsync("SELECT min(last_access) FROM cache_blobs"));
    }

    // ---------------------------------------------------------------- configuration

    [Fact]
    public void Connection_defaults_fill_only_what_the_string_leaves_out()
    {
        var filled = new NpgsqlConnectionStringBuilder(PostgresMetadataStore.ApplyDefaults("Host=db;Database=flywheel"));
        var kept = new NpgsqlConnectionStringBuilder(
            PostgresMetadataStore.ApplyDefaults("Host=db;Database=flywheel;Max Auto Prepare=0;Timeout=60;Command Timeout=7;Application Name=x"));

        Assert.Equal((64, 5, 30, "flywheel"), (filled.MaxAutoPrepare, filled.Timeout, filled.CommandTimeout, filled.ApplicationName));
        Assert.Equal((0, 60, 7, "x"), (kept.MaxAutoPrepare, kept.Timeout, kept.CommandTimeout, kept.ApplicationName));
    }

    // ---------------------------------------------------------------- unavailability

    [Fact]
    public async Task A_server_that_does_not_listen_is_unavailable()
    {
        await using var store = new PostgresMetadataStore($"Host=127.0.0.1;Port={LoopbackPorts.Next()};Username=postgres;Database=none;Timeout=3");

        var clock = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<CacheException>(() => store.CheckHealthAsync(None));

        Assert.Equal(CacheError.Unavailable, e.Error);
        Assert.StartsWith("PostgreSQL", e.Message);
        Assert.IsAssignableFrom<NpgsqlException>(e.InnerException);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
    }

    [Fact]
    public async Task A_statement_that_outlasts_the_command_timeout_is_unavailable_and_the_connection_is_usable_after()
    {
        await using var store = new PostgresMetadataStore(_server.ConnectionString(Database("main"), commandTimeoutSeconds: 1, maxPoolSize: 1), Time);
        await using (var blocker = new NpgsqlConnection(_server.ConnectionString(Database("main")) + ";Pooling=false"))
        {
            await blocker.OpenAsync();
            await using var transaction = await blocker.BeginTransactionAsync();
            await using (var lockTable = new NpgsqlCommand("LOCK TABLE settings IN ACCESS EXCLUSIVE MODE", blocker, transaction))
            {
                await lockTable.ExecuteNonQueryAsync();
            }

            var clock = Stopwatch.StartNew();
            var e = await Assert.ThrowsAsync<CacheException>(() => store.GetSettingAsync("held", None));

            Assert.Equal(CacheError.Unavailable, e.Error);
            Assert.StartsWith("PostgreSQL", e.Message);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"the timeout took {clock.Elapsed}");
        }

        Assert.True(await store.TryAddSettingAsync("held", "free again", None));
        Assert.Equal("free again", await store.GetSettingAsync("held", None));
    }

    [Fact]
    public async Task A_server_stopped_mid_test_is_unavailable_and_the_store_recovers_after_a_restart()
    {
        var server = new PostgresServer();
        try
        {
            await server.InitializeAsync();
            var database = await server.CreateDatabaseAsync("outage");
            await using var store = new PostgresMetadataStore(server.ConnectionString(database, timeoutSeconds: 3, commandTimeoutSeconds: 5), Time);
            await store.MigrateAsync(None);
            var cache = (await store.CreateCacheAsync(NewCache("main"), None)).Id;
            await store.PutNarInfoAsync(cache, NewNarInfo(1), None);
            // Several pooled connections are idle when the server goes away.
            await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => Task.Run(() => store.GetNarInfoAsync(cache, StorePathHash(1), None))));

            await server.StopAsync();

            var clock = Stopwatch.StartNew();
            foreach (var call in new Func<Task>[]
            {
                () => store.GetNarInfoAsync(cache, StorePathHash(1), None),
                () => store.CheckHealthAsync(None),
                () => store.FindMissingSizedBlobsAsync(cache, [new(Digest("a"), 1)], None),
                () => store.PutNarInfoAsync(cache, NewNarInfo(2), None),
            })
            {
                var e = await Assert.ThrowsAsync<CacheException>(call);
                Assert.Equal(CacheError.Unavailable, e.Error);
                Assert.StartsWith("PostgreSQL", e.Message);
                Assert.NotNull(e.InnerException);
            }

            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"failing took {clock.Elapsed}");

            await server.StartAsync();

            Assert.NotNull(await store.GetNarInfoAsync(cache, StorePathHash(1), None));
            await store.PutNarInfoAsync(cache, NewNarInfo(2), None);
            await store.CheckHealthAsync(None);
        }
        finally
        {
            await server.DisposeAsync();
        }
    }
}
