using Flywheel.Cache.Index;
using Flywheel.Cache.Nix;

namespace Flywheel.Cache.Caches;

/// <summary>A cache as the front doors use it: its record and its parsed signing key (parsed once, not per request).</summary>
public sealed class CacheContext
{
    public CacheContext(CacheRecord record)
    {
        Record = record;
        SigningKey = NixSigningKey.Parse(record.SigningSecretKey);
        CacheInfo = System.Text.Encoding.UTF8.GetBytes(
            $"StoreDir: {record.StoreDir}\nWantMassQuery: 1\nPriority: {record.Priority}\n");
    }

    public CacheRecord Record { get; }

    public long Id => Record.Id;

    public string Name => Record.Name;

    public NixSigningKey SigningKey { get; }

    /// <summary>The rendered <c>nix-cache-info</c> file.</summary>
    public byte[] CacheInfo { get; }
}
