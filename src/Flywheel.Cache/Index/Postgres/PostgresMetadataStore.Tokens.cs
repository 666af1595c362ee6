using Flywheel.Cache.Storage;
using Npgsql;
using NpgsqlTypes;

namespace Flywheel.Cache.Index.Postgres;

public sealed partial class PostgresMetadataStore
{
    private const string TokenColumns =
        "id, secret_hash, cache_pattern, scopes, description, created_at, expires_at, revoked_at";

    // Without a conflict target, DO NOTHING covers both unique keys (id and secret_hash).
    private const string CreateTokenSql =
        "INSERT INTO tokens (" + TokenColumns + ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING";

    private const string FindTokenSql = "SELECT " + TokenColumns + " FROM tokens WHERE secret_hash = $1";

    private const string ListTokensSql = "SELECT " + TokenColumns + " FROM tokens ORDER BY created_at, id COLLATE \"C\"";

    // A second revocation keeps the first time.
    private const string RevokeTokenSql = "UPDATE tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2";

    public Task CreateTokenAsync(TokenRecord token, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(token);
        return RunAsync(token, static async (connection, t, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, CreateTokenSql)
                .With(t.Id).With(t.SecretHash).With(t.CachePattern).With((int)t.Scopes)
                .WithNullable(t.Description, NpgsqlDbType.Text)
                .With(ToUnix(t.CreatedAt))
                .WithNullable(ToUnix(t.ExpiresAt), NpgsqlDbType.Bigint)
                .WithNullable(ToUnix(t.RevokedAt), NpgsqlDbType.Bigint);
            if (await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 0)
            {
                throw new CacheException(CacheError.Conflict, $"a token with id '{t.Id}' or the same secret exists already");
            }

            return true;
        }, cancellationToken);
    }

    public Task<TokenRecord?> FindTokenAsync(BlobDigest secretHash, CancellationToken cancellationToken) =>
        RunAsync(secretHash, static async (connection, hash, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, FindTokenSql).With(hash);
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            return await reader.ReadAsync(ct).ConfigureAwait(false) ? ReadToken(reader) : null;
        }, cancellationToken);

    public Task<IReadOnlyList<TokenRecord>> ListTokensAsync(CancellationToken cancellationToken) =>
        RunAsync(0, static async (connection, _, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, ListTokensSql);
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var tokens = new List<TokenRecord>();
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                tokens.Add(ReadToken(reader));
            }

            return (IReadOnlyList<TokenRecord>)tokens;
        }, cancellationToken);

    public Task<bool> RevokeTokenAsync(string id, DateTimeOffset when, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(id);
        return RunAsync((id, when), static async (connection, s, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, RevokeTokenSql).With(ToUnix(s.when)).With(s.id);
            return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 1;
        }, cancellationToken);
    }

    private static TokenRecord ReadToken(NpgsqlDataReader reader) => IndexRows.Token(reader, reader.GetDigest(1));
}
