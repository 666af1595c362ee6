using Flywheel.Cache.Index;
using Flywheel.Cache.Nix;

namespace Flywheel.Cache.Upstream;

/// <summary>An upstream as the read-through uses it: its record with the URL and keys parsed once.</summary>
public sealed class Upstream
{
    public Upstream(UpstreamRecord record, string cacheName)
    {
        ArgumentNullException.ThrowIfNull(record);
        Record = record;
        CacheName = cacheName;
        BaseUri = new Uri(record.Url + "/", UriKind.Absolute);
        TrustedKeys = record.TrustedKeys.Select(NixPublicKey.Parse).ToArray();
    }

    public UpstreamRecord Record { get; }

    public long Id => Record.Id;

    /// <summary>The upstream's configured URL, which also names it in logs and metrics.</summary>
    public string Url => Record.Url;

    public string CacheName { get; }

    /// <summary>The URL with a trailing slash, against which narinfo and NAR paths resolve.</summary>
    public Uri BaseUri { get; }

    public IReadOnlyList<NixPublicKey> TrustedKeys { get; }

    public TimeSpan Timeout => Record.Timeout;
}
