namespace Flywheel.Cache.Index;

public abstract partial class MetadataIndex : ISettingsStore
{
    private const string GetSettingSql = "SELECT value FROM settings WHERE key = $1";

    // Race-free: of concurrent inserts of one key exactly one inserts a row; the others affect none.
    private const string TryAddSettingSql = "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING";

    public Task<string?> GetSettingAsync(string key, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        return QueryFirstAsync(GetSettingSql, key, static (c, key) => c.Add(key), static (_, r) => r.GetString(0), cancellationToken);
    }

    public async Task<bool> TryAddSettingAsync(string key, string value, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        return await ExecuteAsync(TryAddSettingSql, (key, value), static (c, s) => c.Add(s.key).Add(s.value), cancellationToken).ConfigureAwait(false) == 1;
    }
}
