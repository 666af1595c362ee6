using Flywheel.Cache.Index;
using Flywheel.Cache.Index.Trust;

namespace Flywheel.Cache.Tests.Index;

/// <summary>The CI identity part of the contract (<see cref="ITrustStore"/>): trust policies per cache, and the identity of minted tokens.</summary>
public abstract partial class MetadataStoreContract
{
    private ITrustStore Trust => (ITrustStore)Store;

    private TrustPolicyRecord NewTrustPolicy(string id, long cacheId, string issuer = "https://token.actions.githubusercontent.com") => new(
        id, cacheId, issuer, "flywheel", [new ClaimRule("repository", "tinyland-inc/*"), new ClaimRule("ref", "refs/heads/main")],
        TokenScopes.Pull | TokenScopes.Push | TokenScopes.Promote, TimeSpan.FromHours(1), Time.GetUtcNow());

    [Fact]
    public async Task Trust_policies_round_trip_per_cache_oldest_first_and_are_removed_by_cache_and_id()
    {
        var cache = await CreateCacheIdAsync();
        var other = await CreateCacheIdAsync("other");
        var first = NewTrustPolicy("trust_b", cache);
        await Trust.AddTrustPolicyAsync(first, None);
        Time.Advance(TimeSpan.FromSeconds(1));
        await Trust.AddTrustPolicyAsync(NewTrustPolicy("trust_a", cache, "http://127.0.0.1:1234") with { CreatedAt = Time.GetUtcNow() }, None);
        await Trust.AddTrustPolicyAsync(NewTrustPolicy("trust_c", other) with { CreatedAt = Time.GetUtcNow() }, None);

        var listed = await Trust.ListTrustPoliciesAsync(cache, None);

        Assert.Equal(["trust_b", "trust_a"], listed.Select(p => p.Id));
        var read = listed[0];
        Assert.Equal((first.CacheId, first.Issuer, first.Audience, first.Scopes, first.Ttl, first.CreatedAt), (read.CacheId, read.Issuer, read.Audience, read.Scopes, read.Ttl, read.CreatedAt));
        Assert.Equal(first.Claims, read.Claims);
        Assert.Equal(["trust_b", "trust_a", "trust_c"], (await Trust.ListTrustPoliciesAsync(null, None)).Select(p => p.Id));

        Assert.False(await Trust.RemoveTrustPolicyAsync(other, "trust_a", None));
        Assert.True(await Trust.RemoveTrustPolicyAsync(cache, "trust_a", None));
        Assert.Equal(["trust_b"], (await Trust.ListTrustPoliciesAsync(cache, None)).Select(p => p.Id));
    }

    [Fact]
    public async Task A_trust_policy_for_a_cache_that_does_not_exist_is_not_found()
    {
        var e = await Assert.ThrowsAsync<CacheException>(() => Trust.AddTrustPolicyAsync(NewTrustPolicy("trust_x", 4242), None));

        Assert.Equal(CacheError.NotFound, e.Error);
    }

    [Fact]
    public async Task A_token_identity_round_trips_and_tokens_made_otherwise_have_none()
    {
        var token = new TokenRecord("tok_oidc", Digest("secret"), "main", TokenScopes.Push, "oidc", Time.GetUtcNow(), Time.GetUtcNow().AddHours(1), null);
        await Store.CreateTokenAsync(token, None);
        var claims = new Dictionary<string, string> { ["repository"] = "tinyland-inc/app", ["sha"] = "0123abcd", ["run_id"] = "77" };

        await Trust.PutTokenIdentityAsync(new TokenIdentityRecord("tok_oidc", "https://issuer.example", "repo:tinyland-inc/app:ref:refs/heads/main", "trust_b", claims), None);

        var read = await Trust.GetTokenIdentityAsync("tok_oidc", None);
        Assert.NotNull(read);
        Assert.Equal(("https://issuer.example", "repo:tinyland-inc/app:ref:refs/heads/main", "trust_b"), (read.Issuer, read.Subject, read.PolicyId));
        Assert.Equal(claims.OrderBy(c => c.Key), read.Claims.OrderBy(c => c.Key));
        Assert.Null(await Trust.GetTokenIdentityAsync("tok_other", None));
    }
}
