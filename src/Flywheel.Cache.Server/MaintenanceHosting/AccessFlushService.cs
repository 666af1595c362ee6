using Flywheel.Cache.Index;

namespace Flywheel.Cache.Server.MaintenanceHosting;

/// <summary>Writes recorded last-access times to the index every <see cref="Period"/>, and once more at shutdown.</summary>
public sealed class AccessFlushService : BackgroundService
{
    public static readonly TimeSpan Period = TimeSpan.FromSeconds(5);

    private readonly AccessTracker _tracker;
    private readonly TimeProvider _time;
    private readonly ILogger<AccessFlushService> _logger;

    public AccessFlushService(AccessTracker tracker, TimeProvider time, ILogger<AccessFlushService> logger)
    {
        _tracker = tracker;
        _time = time;
        _logger = logger;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Period, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                await FlushAsync(stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // shutting down: the final flush happens in StopAsync
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await FlushAsync(cancellationToken);
    }

    private async Task FlushAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _tracker.FlushAsync(cancellationToken);
        }
        catch (CacheException e) when (e.Error == CacheError.Unavailable)
        {
            // The index is down: these access times are lost (reads still worked); GC errs on keeping data.
            _logger.LogWarning(e, "could not record last-access times: {Message}", e.Message);
        }
    }
}
