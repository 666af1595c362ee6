using System.Collections.Concurrent;
using Flywheel.Cache.Bazel;

namespace Flywheel.Cache.Server.BazelGrpc;

/// <summary>
/// ByteStream writes that were interrupted, kept so the client can resume them (QueryWriteStatus, then Write
/// from the committed offset) on this gateway. An upload not resumed within <see cref="IdleLimit"/> is discarded,
/// leaving nothing behind. Another gateway does not know it: the client then starts over from offset 0.
/// </summary>
public sealed class ByteStreamUploads : IAsyncDisposable
{
    public static readonly TimeSpan IdleLimit = TimeSpan.FromMinutes(10);
    private const int MaxPending = 1024;

    private readonly ConcurrentDictionary<string, Pending> _pending = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private readonly ITimer _sweeper;

    public ByteStreamUploads(TimeProvider time)
    {
        _time = time;
        _sweeper = time.CreateTimer(_ => _ = SweepAsync(), null, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
    }

    public int Count => _pending.Count;

    /// <summary>Takes the interrupted upload of this resource out for the caller to continue; null when there is none.</summary>
    public CasUpload? Take(string resourceName) => _pending.TryRemove(resourceName, out var p) ? p.Upload : null;

    /// <summary>Committed bytes of an interrupted upload of this resource, or null.</summary>
    public long? Committed(string resourceName) => _pending.TryGetValue(resourceName, out var p) ? p.Upload.Committed : null;

    /// <summary>Keeps an interrupted upload for resumption (or discards it when too many are kept).</summary>
    public async ValueTask KeepAsync(string resourceName, CasUpload upload)
    {
        if (_pending.Count >= MaxPending)
        {
            await upload.DisposeAsync();
            return;
        }

        var pending = new Pending(upload, _time.GetUtcNow());
        if (!_pending.TryAdd(resourceName, pending))
        {
            await upload.DisposeAsync(); // a newer attempt of the same resource is already kept
        }
    }

    private async Task SweepAsync()
    {
        var cutoff = _time.GetUtcNow() - IdleLimit;
        foreach (var (name, pending) in _pending)
        {
            if (pending.Since < cutoff && _pending.TryRemove(new KeyValuePair<string, Pending>(name, pending)))
            {
                await pending.Upload.DisposeAsync();
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _sweeper.DisposeAsync();
        foreach (var name in _pending.Keys)
        {
            if (_pending.TryRemove(name, out var pending))
            {
                await pending.Upload.DisposeAsync();
            }
        }
    }

    private sealed record Pending(CasUpload Upload, DateTimeOffset Since);
}
