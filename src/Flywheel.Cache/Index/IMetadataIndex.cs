namespace Flywheel.Cache.Index;

/// <summary>The whole metadata index, for whoever owns its lifetime (the host, the CLI, tests): its schema and reachability, plus every aggregate store. Consumers never ask for it: each asks for the small store it uses.</summary>
public interface IMetadataIndex : ISettingsStore, ICacheStore, INarInfoStore, IUpstreamStore, IBlobIndex, IActionCacheStore, IPinStore, IRetentionStore, IPromotionStore, IBuildStore, IBuildWorkerStore, Trust.ITrustStore, IRecoveryIndex
{
    /// <summary>Applies pending schema migrations (idempotent; safe when several processes start at once).</summary>
    Task MigrateAsync(CancellationToken cancellationToken);

    /// <summary>Throws <see cref="CacheException"/> with <see cref="CacheError.Unavailable"/> when the index cannot be reached.</summary>
    Task CheckHealthAsync(CancellationToken cancellationToken);
}
