using Flywheel.Cache.Index.Trust;

namespace Flywheel.Cache.Index;

public abstract partial class MetadataIndex : ITrustStore
{
    private const string AddTrustPolicySql =
        "INSERT INTO oidc_trust_policies (" + TrustRows.PolicyColumns + ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

    private static readonly DialectSql ListTrustPoliciesSql = new(d =>
        "SELECT " + TrustRows.PolicyColumns + $" FROM oidc_trust_policies WHERE $1 IS NULL OR cache_id = $1 ORDER BY created_at, id{d.Ordinal}");

    private const string RemoveTrustPolicySql = "DELETE FROM oidc_trust_policies WHERE cache_id = $1 AND id = $2";

    private const string PutTokenIdentitySql =
        "INSERT INTO token_identities (" + TrustRows.IdentityColumns + ") VALUES ($1, $2, $3, $4, $5)";

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

    public async Task<bool> RemoveTrustPolicyAsync(long cacheId, string id, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(id);
        return await ExecuteAsync(RemoveTrustPolicySql, (cacheId, id), static (c, s) => c.Add(s.cacheId).Add(s.id), cancellationToken)
            .ConfigureAwait(false) == 1;
    }

    public Task PutTokenIdentityAsync(TokenIdentityRecord identity, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(identity);
        return ExecuteAsync(PutTokenIdentitySql, identity,
            static (c, i) => c.Add(i.TokenId).Add(i.Issuer).Add(i.Subject).Add(i.PolicyId).Add(TrustRows.ClaimsJson(i.Claims)), cancellationToken);
    }

    public Task<TokenIdentityRecord?> GetTokenIdentityAsync(string tokenId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(tokenId);
        return QueryFirstAsync(GetTokenIdentitySql, tokenId, static (c, id) => c.Add(id), static (_, r) => TrustRows.Identity(r), cancellationToken);
    }
}
