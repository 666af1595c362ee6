using Flywheel.Cache.Tests.Infrastructure;

namespace Flywheel.Cache.IntegrationTests.Infrastructure;

/// <summary>
/// The production backends for one test class: a real PostgreSQL (Debian's, started on loopback) and an
/// S3-compatible server (s3rver standing in for RustFS/MinIO), shared by any number of gateway processes.
/// </summary>
public sealed class ProductionBackend : IAsyncLifetime
{
    public PostgresServer Postgres { get; } = new();

    public S3rverServer S3 { get; } = new();

    public string Database { get; private set; } = "";

    /// <summary>A key prefix of this class's own inside the shared bucket.</summary>
    public string Prefix { get; } = "gw-" + Guid.NewGuid().ToString("N")[..12] + "/";

    public async Task InitializeAsync()
    {
        await Task.WhenAll(Postgres.InitializeAsync(), S3.InitializeAsync());
        Database = await Postgres.CreateDatabaseAsync("gateway");
    }

    /// <summary>The admin token the first gateway on this (empty) backend issued; later gateways issue none.</summary>
    public string AdminToken { get; private set; } = "";

    /// <summary>Starts a gateway on these backends, with a data folder of its own (only the admin token lands there).</summary>
    public async Task<FlywheelProcess> StartGatewayAsync()
    {
        var gateway = await StartProcessAsync();
        lock (this)
        {
            if (gateway.AdminToken.Length > 0)
            {
                Assert.True(AdminToken.Length == 0, "a second gateway issued an admin token on an already bootstrapped backend");
                AdminToken = gateway.AdminToken;
            }
        }

        return gateway;
    }

    /// <summary>Runs <c>flywheel gc</c> on these backends, as an operator would next to the gateways.</summary>
    public Task<ProcessResult> GcAsync(params string[] args) =>
        FlywheelProcess.CliAsync(Environment(), ["gc", .. BackendFlags(), .. args]);

    private Task<FlywheelProcess> StartProcessAsync() => FlywheelProcess.StartAsync(null, Environment(), BackendFlags());

    private Dictionary<string, string> Environment() => new()
    {
        ["FLYWHEEL_POSTGRES"] = Postgres.ConnectionString(Database),
        ["AWS_ACCESS_KEY_ID"] = S3rverServer.AccessKey,
        ["AWS_SECRET_ACCESS_KEY"] = S3rverServer.SecretKey,
    };

    private string[] BackendFlags() =>
    [
        "--storage", "s3", "--s3-endpoint", S3.ServiceUrl.ToString().TrimEnd('/'), "--s3-bucket", S3rverServer.Bucket,
        "--s3-prefix", Prefix, "--s3-path-style", "--index", "postgres",
    ];

    public async Task DisposeAsync()
    {
        await S3.DisposeAsync();
        await Postgres.DisposeAsync();
    }
}
