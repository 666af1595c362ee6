namespace Flywheel.Cache.Index.Postgres;

public sealed partial class PostgresMetadataStore
{
    private const string GetSettingSql = "SELECT value FROM settings WHERE key = $1";

    // Race-free: of concurrent inserts of one key exactly one inserts a row; the others affect none.
    private const string TryAddSettingSql = "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING";

    public Task<string?> GetSettingAsync(string key, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        return RunAsync(key, static async (connection, key, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, GetSettingSql).With(key);
            return await command.ExecuteScalarAsync(ct).ConfigureAwait(false) as string;
        }, cancellationToken);
    }

    public Task<bool> TryAddSettingAsync(string key, string value, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        return RunAsync((key, value), static async (connection, s, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, TryAddSettingSql).With(s.key).With(s.value);
            return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 1;
        }, cancellationToken);
    }
}
