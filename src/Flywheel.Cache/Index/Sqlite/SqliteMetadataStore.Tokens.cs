using Flywheel.Cache.Storage;
using Microsoft.Data.Sqlite;

namespace Flywheel.Cache.Index.Sqlite;

public sealed partial class SqliteMetadataStore
{
    private const string TokenColumns =
        "id, secret_hash, cache_pattern, scopes, description, created_at, expires_at, revoked_at";

    private const string CreateTokenSql =
        "INSERT INTO tokens (" + TokenColumns + ") " +
        "VALUES (@id, @secret_hash, @cache_pattern, @scopes, @description, @created_at, @expires_at, @revoked_at) " +
        "ON CONFLICT DO NOTHING";

    private const string FindTokenSql = "SELECT " + TokenColumns + " FROM tokens WHERE secret_hash = @secret_hash";

    private const string ListTokensSql = "SELECT " + TokenColumns + " FROM tokens ORDER BY created_at, id";

    // A second revocation keeps the first time.
    private const string RevokeTokenSql = "UPDATE tokens SET revoked_at = COALESCE(revoked_at, @when) WHERE id = @id";

    public Task CreateTokenAsync(TokenRecord token, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(token);
        return RunAsync(token, static (session, t) =>
        {
            var command = session.Command(CreateTokenSql,
                "@id", "@secret_hash", "@cache_pattern", "@scopes", "@description", "@created_at", "@expires_at", "@revoked_at");
            var p = command.Parameters;
            p[0].Value = t.Id;
            p[1].Value = t.SecretHash.ToBytes();
            p[2].Value = t.CachePattern;
            p[3].Value = (long)t.Scopes;
            p[4].Value = OrNull(t.Description);
            p[5].Value = ToUnix(t.CreatedAt);
            p[6].Value = OrNull(ToUnix(t.ExpiresAt));
            p[7].Value = OrNull(ToUnix(t.RevokedAt));
            if (command.ExecuteNonQuery() == 0)
            {
                throw new CacheException(CacheError.Conflict, $"a token with id '{t.Id}' or the same secret exists already");
            }

            return true;
        }, cancellationToken);
    }

    public Task<TokenRecord?> FindTokenAsync(BlobDigest secretHash, CancellationToken cancellationToken) =>
        RunAsync(secretHash, static (session, hash) =>
        {
            var command = session.Command(FindTokenSql, "@secret_hash");
            command.Parameters[0].Value = hash.ToBytes();
            using var reader = command.ExecuteReader();
            return reader.Read() ? ReadToken(session, reader) : null;
        }, cancellationToken);

    public Task<IReadOnlyList<TokenRecord>> ListTokensAsync(CancellationToken cancellationToken) =>
        RunAsync(0, static (session, _) =>
        {
            var command = session.Command(ListTokensSql);
            var tokens = new List<TokenRecord>();
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                tokens.Add(ReadToken(session, reader));
            }

            return (IReadOnlyList<TokenRecord>)tokens;
        }, cancellationToken);

    public Task<bool> RevokeTokenAsync(string id, DateTimeOffset when, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(id);
        return RunAsync((id, when), static (session, s) =>
        {
            var command = session.Command(RevokeTokenSql, "@when", "@id");
            command.Parameters[0].Value = ToUnix(s.when);
            command.Parameters[1].Value = s.id;
            return command.ExecuteNonQuery() == 1;
        }, cancellationToken);
    }

    private static TokenRecord ReadToken(SqliteSession session, SqliteDataReader reader) => IndexRows.Token(reader, session.ReadDigest(reader, 1));
}
