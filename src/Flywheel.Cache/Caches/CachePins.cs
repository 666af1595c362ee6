using Flywheel.Cache.Index;
using Flywheel.Cache.Nix;

namespace Flywheel.Cache.Caches;

/// <summary>
/// Pins of a Nix cache: store paths that retention never collects, with their closure (a promoted output, a
/// release). A pin names a store path by its full path, its base name or its hash part; it may precede the path.
/// </summary>
public sealed class CachePins
{
    public const int MaxReasonLength = 500;

    private readonly IPinStore _pins;
    private readonly TimeProvider _time;

    public CachePins(IPinStore pins, TimeProvider time)
    {
        _pins = pins;
        _time = time;
    }

    public async Task<string> PinAsync(CacheContext cache, string storePath, string? reason, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cache);
        var hash = HashPartOf(storePath, cache.Record.StoreDir);
        reason = string.IsNullOrWhiteSpace(reason) ? "pinned by an administrator" : reason.Trim();
        if (reason.Length > MaxReasonLength)
        {
            throw CacheException.Invalid($"a pin's reason is limited to {MaxReasonLength} characters");
        }

        await _pins.PinAsync(cache.Id, hash, reason, _time.GetUtcNow(), cancellationToken).ConfigureAwait(false);
        return hash;
    }

    public Task<bool> UnpinAsync(CacheContext cache, string storePath, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cache);
        return _pins.UnpinAsync(cache.Id, HashPartOf(storePath, cache.Record.StoreDir), cancellationToken);
    }

    public Task<IReadOnlyList<PinRecord>> ListAsync(CacheContext cache, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cache);
        return _pins.ListPinsAsync(cache.Id, cancellationToken);
    }

    /// <summary>The hash part of <c>/nix/store/&lt;hash&gt;-&lt;name&gt;</c>, <c>&lt;hash&gt;-&lt;name&gt;</c> or <c>&lt;hash&gt;</c>; anything else is invalid.</summary>
    public static string HashPartOf(string storePath, string storeDir)
    {
        ArgumentNullException.ThrowIfNull(storePath);
        if (StorePath.IsValidHashPart(storePath))
        {
            return storePath;
        }

        if (storePath.StartsWith('/'))
        {
            if (StorePath.TryParse(storePath, storeDir, out var full, out var error))
            {
                return full.HashPart;
            }

            throw CacheException.Invalid($"{ClientText.Quote(storePath)} is not a store path of {storeDir}: {error}");
        }

        if (StorePath.TryFromBaseName(storePath, storeDir, out var path))
        {
            return path.HashPart;
        }

        throw CacheException.Invalid($"{ClientText.Quote(storePath)} is neither a store path, a store path base name nor a 32-character hash part");
    }
}
