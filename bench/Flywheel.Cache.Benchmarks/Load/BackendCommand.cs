using System.Runtime.InteropServices;
using Flywheel.Cache.Tests.Infrastructure;

namespace Flywheel.Cache.Benchmarks.Load;

/// <summary>
/// <c>backend</c>: starts the production backends the way the tests start them (a throwaway PostgreSQL and an s3rver
/// on loopback, <see cref="PostgresServer"/> and <see cref="S3rverServer"/>), prints their settings as shell
/// assignments followed by <c>READY</c>, and stops and removes them on SIGTERM or SIGINT. Used by bench/load/run.sh.
/// </summary>
public static class BackendCommand
{
    public static async Task<int> RunAsync()
    {
        var stop = new TaskCompletionSource();
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);

        var postgres = new PostgresServer();
        var s3 = new S3rverServer();
        try
        {
            await Task.WhenAll(postgres.InitializeAsync(), s3.InitializeAsync());
            var database = await postgres.CreateDatabaseAsync("bench");
            Console.WriteLine($"FLYWHEEL_POSTGRES='{postgres.ConnectionString(database, maxPoolSize: 64)}'");
            Console.WriteLine($"S3_ENDPOINT='{s3.ServiceUrl.ToString().TrimEnd('/')}'");
            Console.WriteLine($"S3_BUCKET='{S3rverServer.Bucket}'");
            Console.WriteLine($"AWS_ACCESS_KEY_ID='{S3rverServer.AccessKey}'");
            Console.WriteLine($"AWS_SECRET_ACCESS_KEY='{S3rverServer.SecretKey}'");
            Console.WriteLine("READY");
            await stop.Task;
        }
        finally
        {
            await s3.DisposeAsync();
            await postgres.DisposeAsync();
        }

        return 0;

        void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            stop.TrySetResult();
        }
    }
}
