using Flywheel.Cache.Index;
using Flywheel.Cache.Index.Migrations;
using Flywheel.Cache.Index.Sqlite;
using Microsoft.Data.Sqlite;

namespace Flywheel.Cache.Tests.Index;

public sealed class SqliteMetadataStoreTests : MetadataStoreContract
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "flywheel-sqlite-" + Guid.NewGuid().ToString("N"));

    public SqliteMetadataStoreTests()
    {
        Directory.CreateDirectory(_directory);
    }

    private string DatabasePath => Path.Combine(_directory, "main.db");

    protected override IMetadataIndex CreateStore(TimeProvider time, string database) =>
        new SqliteMetadataStore(Path.Combine(_directory, database + ".db"), time);

    protected override Task CleanupAsync()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);

        return Task.CompletedTask;
    }

    private SqliteConnection OpenRaw()
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = DatabasePath, Pooling = false }.ConnectionString);
        connection.Open();
        return connection;
    }

    private static object? Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }

    [Fact]
    public void The_database_is_in_wal_mode()
    {
        using var connection = OpenRaw();

        Assert.Equal("wal", Scalar(connection, "PRAGMA journal_mode"));
    }

    [Fact]
    public void Every_embedded_migration_is_recorded_once()
    {
        var scripts = MigrationScript.Load(SqliteMetadataStore.MigrationDialect);
        using var connection = OpenRaw();

        Assert.NotEmpty(scripts);
        Assert.All(scripts, s => Assert.Matches(@"^\d{8}_\d{4}_[a-z0-9_]+$", s.Id));
        Assert.Equal((long)scripts.Count, Scalar(connection, "SELECT COUNT(*) FROM schema_migrations"));
        Assert.Equal(scripts[0].Id, Scalar(connection, "SELECT MIN(id) FROM schema_migrations"));
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

        using var connection = OpenRaw();
        Assert.Equal(later.ToUnixTimeMilliseconds(), Scalar(connection, "SELECT last_access FROM cache_blobs"));
        Assert.Equal(later.ToUnixTimeMilliseconds(), Scalar(connection, "SELECT last_access FROM blobs"));
        Assert.Equal(Time.GetUtcNow().ToUnixTimeMilliseconds(), Scalar(connection, "SELECT created_at FROM blobs"));
        Assert.Equal(5L, Scalar(connection, "SELECT size FROM blobs"));
    }

    [Fact]
    public void Batched_lookups_use_the_primary_keys()
    {
        using var connection = OpenRaw();
        string Plan(string sql)
        {
            using var command = connection.CreateCommand();
            command.CommandText = "EXPLAIN QUERY PLAN " + sql;
            command.Parameters.AddWithValue("@digests", "[]");
            command.Parameters.AddWithValue("@hashes", "[]");
            command.Parameters.AddWithValue("@cache_id", 1);
            command.Parameters.AddWithValue("@when", 1);
            using var reader = command.ExecuteReader();
            var lines = new List<string>();
            while (reader.Read())
            {
                lines.Add(reader.GetString(3));
            }

            return string.Join("\n", lines);
        }

        var missing = Plan("SELECT MIN(j.key) FROM json_each(@digests) AS j WHERE NOT EXISTS (SELECT 1 FROM blobs WHERE blobs.digest = unhex(j.value)) GROUP BY j.value");
        var find = Plan("SELECT store_path_hash FROM narinfos WHERE cache_id = @cache_id AND store_path_hash IN (SELECT value FROM json_each(@hashes))");

        Assert.Contains("PRIMARY KEY", missing);
        Assert.DoesNotContain("SCAN blobs", missing);
        Assert.DoesNotContain("SCAN narinfos", find);
    }

    [Fact]
    public async Task A_database_that_cannot_be_opened_is_unavailable()
    {
        using var store = new SqliteMetadataStore(Path.Combine(_directory, "no-such-dir", "index.db"));

        var e = await Assert.ThrowsAsync<CacheException>(() => store.CheckHealthAsync(None));

        Assert.Equal(CacheError.Unavailable, e.Error);
    }

    [Fact]
    public async Task A_shared_in_memory_database_works_for_tests()
    {
        var builder = new SqliteConnectionStringBuilder { DataSource = "flywheel-" + Guid.NewGuid().ToString("N"), Mode = SqliteOpenMode.Memory, Cache = SqliteCacheMode.Shared };
        using var store = new SqliteMetadataStore(builder, Time);

        await store.MigrateAsync(None);
        var cache = await store.CreateCacheAsync(NewCache("memory"), None);

        Assert.Equal(cache, await store.GetCacheAsync("memory", None));
    }
}
