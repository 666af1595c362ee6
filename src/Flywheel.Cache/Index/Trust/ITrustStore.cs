namespace Flywheel.Cache.Index.Trust;

/// <summary>
/// The index's part for CI identity (OIDC): per-cache trust policies, and the verified identity a token minted by an
/// exchange carries. Both metadata stores implement it (migration 20261203_0001); kept apart from
/// <see cref="IMetadataStore"/> so it can be folded into the per-aggregate stores as one small interface.
/// </summary>
public interface ITrustStore
{
    /// <summary>Adds a policy; its <see cref="TrustPolicyRecord.Id"/> is chosen by the caller. Not found when the cache is gone.</summary>
    Task AddTrustPolicyAsync(TrustPolicyRecord policy, CancellationToken cancellationToken);

    /// <summary>The policies of one cache, or of every cache when <paramref name="cacheId"/> is null, oldest first.</summary>
    Task<IReadOnlyList<TrustPolicyRecord>> ListTrustPoliciesAsync(long? cacheId, CancellationToken cancellationToken);

    /// <summary>
    /// Removes a policy of the cache and, in the same transaction, revokes (as of <paramref name="now"/>) every live
    /// token it minted; the ids of those tokens, or null when the cache has no policy with that id.
    /// </summary>
    Task<IReadOnlyList<string>?> RemoveTrustPolicyAsync(long cacheId, string id, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>
    /// Records the identity a minted token was issued for (once per token); false, recording nothing, when the
    /// policy it names no longer exists (removed while the exchange ran: the caller revokes the token).
    /// </summary>
    Task<bool> PutTokenIdentityAsync(TokenIdentityRecord identity, CancellationToken cancellationToken);

    /// <summary>The identity a token was minted for; null for tokens made any other way.</summary>
    Task<TokenIdentityRecord?> GetTokenIdentityAsync(string tokenId, CancellationToken cancellationToken);
}

/// <summary>
/// Which CI jobs may exchange their OIDC ID token for a token on a cache: tokens from <see cref="Issuer"/> for
/// <see cref="Audience"/> whose claims match every rule get <see cref="Scopes"/> for at most <see cref="Ttl"/>.
/// </summary>
public sealed record TrustPolicyRecord(
    string Id,
    long CacheId,
    string Issuer,
    string Audience,
    IReadOnlyList<ClaimRule> Claims,
    TokenScopes Scopes,
    TimeSpan Ttl,
    DateTimeOffset CreatedAt);

/// <summary>A claim that must be a string matching <see cref="Glob"/> (<c>*</c>, <c>?</c>).</summary>
public sealed record ClaimRule(string Name, string Glob);

/// <summary>
/// The verified identity of the CI job a token was minted for: the issuer, the subject, the policy that matched
/// and the claims that describe the source (repository, ref, sha, workflow, run_id; GitLab's project_path,
/// pipeline_id) as the issuer signed them.
/// </summary>
public sealed record TokenIdentityRecord(
    string TokenId,
    string Issuer,
    string Subject,
    string PolicyId,
    IReadOnlyDictionary<string, string> Claims);
