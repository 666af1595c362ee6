namespace Flywheel.Cache.Index.Sqlite;

public sealed partial class SqliteMetadataStore
{
    private const string GetSettingSql = "SELECT value FROM settings WHERE key = @key";

    private const string TryAddSettingSql = "INSERT INTO settings (key, value) VALUES (@key, @value) ON CONFLICT (key) DO NOTHING";

    public Task<string?> GetSettingAsync(string key, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        return RunAsync(key, static (session, key) =>
        {
            var command = session.Command(GetSettingSql, "@key");
            command.Parameters[0].Value = key;
            return command.ExecuteScalar() as string;
        }, cancellationToken);
    }

    public Task<bool> TryAddSettingAsync(string key, string value, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        return RunAsync((key, value), static (session, s) =>
        {
            var command = session.Command(TryAddSettingSql, "@key", "@value");
            command.Parameters[0].Value = s.key;
            command.Parameters[1].Value = s.value;
            return command.ExecuteNonQuery() == 1;
        }, cancellationToken);
    }
}
