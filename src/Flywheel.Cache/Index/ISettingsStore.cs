namespace Flywheel.Cache.Index;

/// <summary>Small key/value facts of the index, e.g. that the first start's bootstrap happened.</summary>
public interface ISettingsStore
{
    Task<string?> GetSettingAsync(string key, CancellationToken cancellationToken);

    /// <summary>Sets the value only when the key has none yet; returns whether this call set it.</summary>
    Task<bool> TryAddSettingAsync(string key, string value, CancellationToken cancellationToken);
}
