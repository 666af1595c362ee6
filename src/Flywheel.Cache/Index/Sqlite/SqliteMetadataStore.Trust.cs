using Flywheel.Cache.Index.Trust;

namespace Flywheel.Cache.Index.Sqlite;

public sealed partial class SqliteMetadataStore : ITrustStore
{
    private const string AddTrustPolicySql =
        "INSERT INTO oidc_trust_policies (" + TrustRows.PolicyColumns + ") " +
        "VALUES (@id, @cache_id, @issuer, @audience, @claims, @scopes, @ttl_seconds, @created_at)";

    private const string ListTrustPoliciesSql =
        "SELECT " + TrustRows.PolicyColumns + " FROM oidc_trust_policies WHERE @cache_id IS NULL OR cache_id = @cache_id ORDER BY created_at, id";

    private const string RemoveTrustPolicySql = "DELETE FROM oidc_trust_policies WHERE cache_id = @cache_id AND id = @id";

    private const string PutTokenIdentitySql =
        "INSERT INTO token_identities (" + TrustRows.IdentityColumns + ") VALUES (@token_id, @issuer, @subject, @policy_id, @claims)";

    private const string GetTokenIdentitySql = "SELECT " + TrustRows.IdentityColumns + " FROM token_identities WHERE token_id = @token_id";

    public Task AddTrustPolicyAsync(TrustPolicyRecord policy, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return RunAsync(policy, static (session, t) =>
        {
            var command = session.Command(AddTrustPolicySql,
                "@id", "@cache_id", "@issuer", "@audience", "@claims", "@scopes", "@ttl_seconds", "@created_at");
            var p = command.Parameters;
            p[0].Value = t.Id;
            p[1].Value = t.CacheId;
            p[2].Value = t.Issuer;
            p[3].Value = t.Audience;
            p[4].Value = TrustRows.ClaimRulesJson(t.Claims);
            p[5].Value = (long)t.Scopes;
            p[6].Value = (long)t.Ttl.TotalSeconds;
            p[7].Value = ToUnix(t.CreatedAt);
            command.ExecuteNonQuery();
            return true;
        }, cancellationToken);
    }

    public Task<IReadOnlyList<TrustPolicyRecord>> ListTrustPoliciesAsync(long? cacheId, CancellationToken cancellationToken) =>
        RunAsync(cacheId, static (session, cacheId) =>
        {
            var command = session.Command(ListTrustPoliciesSql, "@cache_id");
            command.Parameters[0].Value = OrNull(cacheId);
            var policies = new List<TrustPolicyRecord>();
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                policies.Add(TrustRows.Policy(reader));
            }

            return (IReadOnlyList<TrustPolicyRecord>)policies;
        }, cancellationToken);

    public Task<bool> RemoveTrustPolicyAsync(long cacheId, string id, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(id);
        return RunAsync((cacheId, id), static (session, s) =>
        {
            var command = session.Command(RemoveTrustPolicySql, "@cache_id", "@id");
            command.Parameters[0].Value = s.cacheId;
            command.Parameters[1].Value = s.id;
            return command.ExecuteNonQuery() == 1;
        }, cancellationToken);
    }

    public Task PutTokenIdentityAsync(TokenIdentityRecord identity, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(identity);
        return RunAsync(identity, static (session, i) =>
        {
            var command = session.Command(PutTokenIdentitySql, "@token_id", "@issuer", "@subject", "@policy_id", "@claims");
            var p = command.Parameters;
            p[0].Value = i.TokenId;
            p[1].Value = i.Issuer;
            p[2].Value = i.Subject;
            p[3].Value = i.PolicyId;
            p[4].Value = TrustRows.ClaimsJson(i.Claims);
            command.ExecuteNonQuery();
            return true;
        }, cancellationToken);
    }

    public Task<TokenIdentityRecord?> GetTokenIdentityAsync(string tokenId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(tokenId);
        return RunAsync(tokenId, static (session, id) =>
        {
            var command = session.Command(GetTokenIdentitySql, "@token_id");
            command.Parameters[0].Value = id;
            using var reader = command.ExecuteReader();
            return reader.Read() ? TrustRows.Identity(reader) : null;
        }, cancellationToken);
    }
}
