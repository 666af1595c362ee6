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

        Assert.Null(await Trust.RemoveTrustPolicyAsync(other, "trust_a", Time.GetUtcNow(), None));
        Assert.Equal([], await Trust.RemoveTrustPolicyAsync(cache, "trust_a", Time.GetUtcNow(), None));
        Assert.Equal(["trust_b"], (await Trust.ListTrustPoliciesAsync(cache, None)).Select(p => p.Id));
    }

    [Fact]
    public async Task Removing_a_policy_revokes_the_live_tokens_it_minted_and_no_others()
    {
        var cache = await CreateCacheIdAsync();
        await Trust.AddTrustPolicyAsync(NewTrustPolicy("trust_gone", cache), None);
        await Trust.AddTrustPolicyAsync(NewTrustPolicy("trust_kept", cache), None);
        var now = Time.GetUtcNow();
        var earlier = now.AddMinutes(-5);
        async Task MintAsync(string id, string policy, DateTimeOffset? revokedAt = null)
        {
            await Store.CreateTokenAsync(new TokenRecord(id, Digest(id), "main", TokenScopes.Push, "oidc", now, now.AddHours(1), revokedAt), None);
            Assert.True(await Trust.PutTokenIdentityAsync(new TokenIdentityRecord(id, "https://issuer.example", "repo:x", policy, new Dictionary<string, string>()), None));
        }

        await MintAsync("tok_1", "trust_gone");
        await MintAsync("tok_2", "trust_gone");
        await MintAsync("tok_old", "trust_gone", revokedAt: earlier);
        await MintAsync("tok_other", "trust_kept");
        await Store.CreateTokenAsync(new TokenRecord("tok_admin", Digest("tok_admin"), "*", TokenScopes.Admin, "admin", now, null, null), None);
        Time.Advance(TimeSpan.FromSeconds(1));

        var revoked = await Trust.RemoveTrustPolicyAsync(cache, "trust_gone", Time.GetUtcNow(), None);

        Assert.Equal(["tok_1", "tok_2"], revoked!.Order(StringComparer.Ordinal));
        var tokens = (await Store.ListTokensAsync(None)).ToDictionary(t => t.Id, t => t.RevokedAt);
        Assert.Equal(Time.GetUtcNow(), tokens["tok_1"]);
        Assert.Equal(Time.GetUtcNow(), tokens["tok_2"]);
        Assert.Equal(earlier, tokens["tok_old"]); // the first revocation's time is kept
        Assert.Null(tokens["tok_other"]);
        Assert.Null(tokens["tok_admin"]);
    }

    [Fact]
    public async Task A_token_identity_naming_a_removed_policy_is_not_recorded()
    {
        var cache = await CreateCacheIdAsync();
        await Trust.AddTrustPolicyAsync(NewTrustPolicy("trust_short", cache), None);
        await Store.CreateTokenAsync(new TokenRecord("tok_late", Digest("late"), "main", TokenScopes.Push, "oidc", Time.GetUtcNow(), null, null), None);
        Assert.NotNull(await Trust.RemoveTrustPolicyAsync(cache, "trust_short", Time.GetUtcNow(), None));

        Assert.False(await Trust.PutTokenIdentityAsync(new TokenIdentityRecord("tok_late", "https://issuer.example", "repo:x", "trust_short", new Dictionary<string, string>()), None));

        Assert.Null(await Trust.GetTokenIdentityAsync("tok_late", None));
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
        await Trust.AddTrustPolicyAsync(NewTrustPolicy("trust_b", await CreateCacheIdAsync()), None);
        var token = new TokenRecord("tok_oidc", Digest("secret"), "main", TokenScopes.Push, "oidc", Time.GetUtcNow(), Time.GetUtcNow().AddHours(1), null);
        await Store.CreateTokenAsync(token, None);
        var claims = new Dictionary<string, string> { ["repository"] = "tinyland-inc/app", ["sha"] = "0123abcd", ["run_id"] = "77" };

        Assert.True(await Trust.PutTokenIdentityAsync(new TokenIdentityRecord("tok_oidc", "https://issuer.example", "repo:tinyland-inc/app:ref:refs/heads/main", "trust_b", claims), None));

        var read = await Trust.GetTokenIdentityAsync("tok_oidc", None);
        Assert.NotNull(read);
        Assert.Equal(("https://issuer.example", "repo:tinyland-inc/app:ref:refs/heads/main", "trust_b"), (read.Issuer, read.Subject, read.PolicyId));
        Assert.Equal(claims.OrderBy(c => c.Key), read.Claims.OrderBy(c => c.Key));
        Assert.Null(await Trust.GetTokenIdentityAsync("tok_other", None));
    }
}
