using Flywheel.Cache.Index;
using Flywheel.Cache.Index.Postgres;
using Flywheel.Cache.Index.Sqlite;
using Flywheel.Cache.Storage;
using Flywheel.Cache.Storage.Disk;
using Flywheel.Cache.Storage.S3;

namespace Flywheel.Cache.Server.Hosting;

/// <summary>Builds the blob store and the metadata index the options select.</summary>
public static class Backends
{
    public static IBlobStore CreateBlobStore(ServerOptions options, TimeProvider time) => options.Storage switch
    {
        "disk" => new DiskBlobStore(Path.Combine(options.DataDirectory, "blobs"), time, options.DiskSync),
        "s3" => new S3BlobStore(options.S3 ?? throw new InvalidOperationException("storage s3 without S3 settings"), time),
        var other => throw new InvalidOperationException($"storage '{other}' is not supported"),
    };

    public static IMetadataIndex CreateIndex(ServerOptions options, TimeProvider time) => options.Index switch
    {
        "sqlite" => CreateSqliteIndex(options.DataDirectory, time),
        "postgres" => new PostgresMetadataStore(
            options.PostgresConnectionString ?? throw new InvalidOperationException("index postgres without a connection string"), time),
        var other => throw new InvalidOperationException($"index '{other}' is not supported"),
    };

    public static IMetadataIndex CreateSqliteIndex(string dataDirectory, TimeProvider time)
    {
        Directory.CreateDirectory(dataDirectory);
        return new SqliteMetadataStore(Path.Combine(dataDirectory, "index.sqlite"), time);
    }
}
