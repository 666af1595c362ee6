using Flywheel.Cache.Index.Trust;
using NpgsqlTypes;

namespace Flywheel.Cache.Index.Postgres;

public sealed partial class PostgresMetadataStore : ITrustStore
{
    private const string AddTrustPolicySql =
        "INSERT INTO oidc_trust_policies (" + TrustRows.PolicyColumns + ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

    private const string ListTrustPoliciesSql =
        "SELECT " + TrustRows.PolicyColumns + " FROM oidc_trust_policies WHERE $1::bigint IS NULL OR cache_id = $1 ORDER BY created_at, id COLLATE \"C\"";

    private const string RemoveTrustPolicySql = "DELETE FROM oidc_trust_policies WHERE cache_id = $1 AND id = $2";

    private const string PutTokenIdentitySql =
        "INSERT INTO token_identities (" + TrustRows.IdentityColumns + ") VALUES ($1, $2, $3, $4, $5)";

    private const string GetTokenIdentitySql = "SELECT " + TrustRows.IdentityColumns + " FROM token_identities WHERE token_id = $1";

    public Task AddTrustPolicyAsync(TrustPolicyRecord policy, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return RunAsync(policy, static async (connection, t, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, AddTrustPolicySql)
                .With(t.Id).With(t.CacheId).With(t.Issuer).With(t.Audience).With(TrustRows.ClaimRulesJson(t.Claims))
                .With((int)t.Scopes).With((long)t.Ttl.TotalSeconds).With(ToUnix(t.CreatedAt));
            await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            return true;
        }, cancellationToken);
    }

    public Task<IReadOnlyList<TrustPolicyRecord>> ListTrustPoliciesAsync(long? cacheId, CancellationToken cancellationToken) =>
        RunAsync(cacheId, static async (connection, cacheId, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, ListTrustPoliciesSql).WithNullable(cacheId, NpgsqlDbType.Bigint);
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var policies = new List<TrustPolicyRecord>();
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                policies.Add(TrustRows.Policy(reader));
            }

            return (IReadOnlyList<TrustPolicyRecord>)policies;
        }, cancellationToken);

    public Task<bool> RemoveTrustPolicyAsync(long cacheId, string id, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(id);
        return RunAsync((cacheId, id), static async (connection, s, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, RemoveTrustPolicySql).With(s.cacheId).With(s.id);
            return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 1;
        }, cancellationToken);
    }

    public Task PutTokenIdentityAsync(TokenIdentityRecord identity, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(identity);
        return RunAsync(identity, static async (connection, i, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, PutTokenIdentitySql)
                .With(i.TokenId).With(i.Issuer).With(i.Subject).With(i.PolicyId).With(TrustRows.ClaimsJson(i.Claims));
            await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            return true;
        }, cancellationToken);
    }

    public Task<TokenIdentityRecord?> GetTokenIdentityAsync(string tokenId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(tokenId);
        return RunAsync(tokenId, static async (connection, id, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, GetTokenIdentitySql).With(id);
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            return await reader.ReadAsync(ct).ConfigureAwait(false) ? TrustRows.Identity(reader) : null;
        }, cancellationToken);
    }
}
