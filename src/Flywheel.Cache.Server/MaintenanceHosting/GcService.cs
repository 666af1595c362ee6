using Flywheel.Cache.Maintenance;

namespace Flywheel.Cache.Server.MaintenanceHosting;

/// <summary>Runs garbage collection every <see cref="GcOptions.Interval"/>; gateways that find the lock taken skip the run.</summary>
public sealed class GcService : BackgroundService
{
    private readonly GarbageCollector _collector;
    private readonly TimeProvider _time;
    private readonly ILogger<GcService> _logger;

    public GcService(GarbageCollector collector, TimeProvider time, ILogger<GcService> logger)
    {
        _collector = collector;
        _time = time;
        _logger = logger;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_collector.Options.Interval <= TimeSpan.Zero)
        {
            return;
        }

        using var timer = new PeriodicTimer(_collector.Options.Interval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await _collector.RunAsync(dryRun: false, stoppingToken);
                }
                catch (CacheException e)
                {
                    // A backend was unavailable: the next run tries again; nothing was half-deleted (each delete is one call).
                    _logger.LogWarning(e, "garbage collection failed: {Message}", e.Message);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // shutting down
        }
    }
}
