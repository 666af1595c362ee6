using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Flywheel.Cache.Builds;
using Flywheel.Cache.Storage.S3;

namespace Flywheel.Cache.Tests.Infrastructure;

/// <summary>
/// A real s3rver (the S3 stand-in for RustFS/MinIO) on a free loopback port, with one bucket, in a temporary
/// directory; killed and removed on dispose. Found through FLYWHEEL_TEST_S3RVER (its bin/s3rver.js, which
/// scripts/test.sh installs and exports) or the repository's .test-env/ folder; missing, every test using it fails.
/// </summary>
public sealed class S3rverServer : IAsyncLifetime
{
    public const string Collection = "s3rver";
    public const string Bucket = "flywheel-test";
    public const string AccessKey = "S3RVER";
    public const string SecretKey = "S3RVER";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    private RunningProcess? _process;

    public string Directory { get; } = Path.Combine(Path.GetTempPath(), "flywheel-s3rver-" + Guid.NewGuid().ToString("N"));

    private int _port;

    public Uri ServiceUrl { get; private set; } = new("http://127.0.0.1:1/");

    /// <summary>Options for a store on this server under its own <paramref name="prefix"/>, with test-sized timeouts.</summary>
    public S3BlobStoreOptions Options(string prefix, long partSizeBytes = S3BlobStoreOptions.DefaultPartSizeBytes) => new()
    {
        ServiceUrl = ServiceUrl,
        Region = "us-east-1",
        Bucket = Bucket,
        Prefix = prefix,
        ForcePathStyle = true,
        AccessKey = AccessKey,
        SecretKey = SecretKey,
        PartSizeBytes = partSizeBytes,
        RequestTimeout = TimeSpan.FromSeconds(10),
        MaxRetries = 1,
    };

    public Task InitializeAsync()
    {
        _port = LoopbackPorts.Next();
        return StartAsync();
    }

    /// <summary>Starts the server (again, after <see cref="Kill"/>) on the same port and folder: the stored blobs come back.</summary>
    public async Task StartAsync()
    {
        var s3rver = FindS3rver();
        var host = Path.Combine(AppContext.BaseDirectory, "Infrastructure", "s3rver-host.js");
        var packageDir = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(s3rver)!, ".."));
        var port = _port;
        System.IO.Directory.CreateDirectory(Directory);
        ServiceUrl = new Uri($"http://127.0.0.1:{port}/");

        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var stderr = new System.Text.StringBuilder();
        _process = TestProcess.Runner.Start(
            TestProcess.Command("node", [host, packageDir, "127.0.0.1", port.ToString(CultureInfo.InvariantCulture), Directory, Bucket], Timeout.InfiniteTimeSpan)
                with
            { MaxOutputChars = 0, MaxErrorChars = 0 },
            line =>
            {
                if (line.Contains("s3rver ready", StringComparison.Ordinal))
                {
                    ready.TrySetResult();
                }

                return Task.CompletedTask;
            },
            line =>
            {
                lock (stderr)
                {
                    stderr.AppendLine(line);
                }

                return Task.CompletedTask;
            });
        if (await Task.WhenAny(ready.Task, _process.Completion, Task.Delay(StartTimeout)) == ready.Task)
        {
            return;
        }

        Kill();
        throw new InvalidOperationException(
            $"s3rver ({s3rver}) did not start on port {port} within {StartTimeout.TotalSeconds} s: {stderr}");
    }

    public Task DisposeAsync()
    {
        Kill();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }

        return Task.CompletedTask;
    }

    /// <summary>Stops the server at once (the "storage went away" case).</summary>
    public void Kill()
    {
        if (_process is { HasExited: false })
        {
            _process.StopAsync().Wait(TimeSpan.FromSeconds(10));
        }
    }


    private static string FindS3rver()
    {
        var configured = Environment.GetEnvironmentVariable("FLYWHEEL_TEST_S3RVER");
        if (!string.IsNullOrEmpty(configured) && File.Exists(configured))
        {
            return configured;
        }

        // `dotnet test` run by hand after scripts/test.sh installed it once
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var local = Path.Combine(dir.FullName, ".test-env", "s3rver", "node_modules", "s3rver", "bin", "s3rver.js");
            if (File.Exists(local))
            {
                return local;
            }
        }

        throw RequiredComponent.Missing($"s3rver (FLYWHEEL_TEST_S3RVER is '{configured}', and no .test-env/s3rver above the tests)",
            "it with npm install --no-save --prefix .test-env/s3rver s3rver@3.7.1");
    }
}

[CollectionDefinition(S3rverServer.Collection)]
public sealed class S3rverCollection : ICollectionFixture<S3rverServer>;
