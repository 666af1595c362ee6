using Flywheel.Cache.Index;
using Flywheel.Cache.Index.Sqlite;
using Flywheel.Cache.Storage;
using Flywheel.Cache.Storage.Disk;

namespace Flywheel.Cache.Server.Hosting;

/// <summary>Builds the blob store and the metadata index the options select.</summary>
public static class Backends
{
    public static IBlobStore CreateBlobStore(ServerOptions options, TimeProvider time) => options.Storage switch
    {
        "disk" => new DiskBlobStore(Path.Combine(options.DataDirectory, "blobs"), time),
        var other => throw new InvalidOperationException($"storage '{other}' is not supported"),
    };

    public static IMetadataStore CreateIndex(ServerOptions options, TimeProvider time) => options.Index switch
    {
        "sqlite" => CreateSqliteIndex(options.DataDirectory, time),
        var other => throw new InvalidOperationException($"index '{other}' is not supported"),
    };

    public static IMetadataStore CreateSqliteIndex(string dataDirectory, TimeProvider time)
    {
        Directory.CreateDirectory(dataDirectory);
        return new SqliteMetadataStore(Path.Combine(dataDirectory, "index.sqlite"), time);
    }
}
