using Flywheel.Cache.Index.Trust;

namespace Flywheel.Cache.Index;

public abstract partial class MetadataIndex : ITrustStore
{
    private const string AddTrustPolicySql =
        "INSERT INTO oidc_trust_policies (" + TrustRows.PolicyColumns + ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

    private static readonly DialectSql ListTrustPoliciesSql = new(d =>
        "SELECT " + TrustRows.PolicyColumns + $" FROM oidc_trust_policies WHERE $1 IS NULL OR cache_id = $1 ORDER BY created_at, id{d.Ordinal}");

    private const string RemoveTrustPolicySql = "DELETE FROM oidc_trust_policies WHERE cache_id = $1 AND id = $2";

    // The tokens a removed policy minted that are still live: revoked in the removal's transaction, after the DELETE,
    // so an identity written while the DELETE waited for it (PostgreSQL: its row lock below) is seen and revoked too.
    private const string RevokePolicyTokensSql =
        "UPDATE tokens SET revoked_at = $1 WHERE revoked_at IS NULL AND id IN (SELECT token_id FROM token_identities WHERE policy_id = $2) RETURNING id";

    // Only while the policy exists: an exchange that matched a policy being removed gets no identity, and revokes its token.
    private static readonly DialectSql PutTokenIdentitySql = new(d =>
        "INSERT INTO token_identities (" + TrustRows.IdentityColumns + ") SELECT $1, $2, $3, $4, $5 " +
        $"WHERE EXISTS (SELECT 1 FROM oidc_trust_policies WHERE id = $4{d.RowLock("FOR SHARE")})");

    private const string GetTokenIdentitySql = "SELECT " + TrustRows.IdentityColumns + " FROM token_identities WHERE token_id = $1";

    public Task AddTrustPolicyAsync(TrustPolicyRecord policy, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return ExecuteAsync(AddTrustPolicySql, policy,
            static (c, t) => c.Add(t.Id).Add(t.CacheId).Add(t.Issuer).Add(t.Audience).Add(TrustRows.ClaimRulesJson(t.Claims))
                .Add((int)t.Scopes).Add((long)t.Ttl.TotalSeconds).Add(t.CreatedAt),
            cancellationToken);
    }

    public Task<IReadOnlyList<TrustPolicyRecord>> ListTrustPoliciesAsync(long? cacheId, CancellationToken cancellationToken) =>
        QueryAsync(ListTrustPoliciesSql.For(Dialect), cacheId, static (c, id) => c.AddNullable(id), static (_, r) => TrustRows.Policy(r), cancellationToken);

    public Task<IReadOnlyList<string>?> RemoveTrustPolicyAsync(long cacheId, string id, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(id);
        return UseConnectionAsync((cacheId, id, now), static (connection, s, ct) => connection.InTransactionAsync(s, static async (connection, s, ct) =>
        {
            if (await connection.ExecuteAsync(RemoveTrustPolicySql, s, static (c, s) => c.Add(s.cacheId).Add(s.id), ct).ConfigureAwait(false) == 0)
            {
                return null;
            }

            IReadOnlyList<string> revoked = await connection.QueryAsync(
                RevokePolicyTokensSql, s, static (c, s) => c.Add(s.now).Add(s.id), static (_, r) => r.GetString(0), ct).ConfigureAwait(false);
            return revoked;
        }, ct), cancellationToken);
    }

    public async Task<bool> PutTokenIdentityAsync(TokenIdentityRecord identity, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(identity);
        return await ExecuteAsync(PutTokenIdentitySql.For(Dialect), identity,
            static (c, i) => c.Add(i.TokenId).Add(i.Issuer).Add(i.Subject).Add(i.PolicyId).Add(TrustRows.ClaimsJson(i.Claims)), cancellationToken)
            .ConfigureAwait(false) == 1;
    }

    public Task<TokenIdentityRecord?> GetTokenIdentityAsync(string tokenId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(tokenId);
        return QueryFirstAsync(GetTokenIdentitySql, tokenId, static (c, id) => c.Add(id), static (_, r) => TrustRows.Identity(r), cancellationToken);
    }
}
