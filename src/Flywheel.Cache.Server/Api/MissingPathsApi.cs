using Flywheel.Cache.Caches;
using Flywheel.Cache.Index;
using Flywheel.Cache.Nix;
using Flywheel.Cache.Server.Auth;

namespace Flywheel.Cache.Server.Api;

/// <summary>
/// <c>POST /_api/v1/caches/{name}/missing</c> (<c>push</c>): which of these store paths the cache lacks, the one
/// question <c>flywheel push</c> asks for a whole closure (Attic's <c>get-missing-paths</c>). The body is
/// <c>{"storePathHashes": ["&lt;32 nix-base32&gt;", …]}</c>, read only after the token is checked and at most
/// <c>Api:MaxBodyBytes</c> (1 MiB, about 29,000 hashes; the client pages larger closures); every hash is validated
/// before the index is asked, and the index answers the whole set in one query. The answer lists the missing hashes in
/// the order asked (duplicates once). Only the cache's own narinfos count: an upstream's path is missing here.
/// </summary>
internal static class MissingPathsApi
{
    public static void Map(IEndpointRouteBuilder api) => api.MapPost("/caches/{name}/missing", FindAsync);

    private static async Task<IResult> FindAsync(HttpContext context, string name, ApiBodies bodies, RequestAuthorizer auth, INarInfoStore index)
    {
        var cache = await auth.ResolveAsync(context, name, TokenScopes.Push);
        var request = await bodies.ReadJsonAsync<MissingPathsRequest>(context);
        var hashes = request.StorePathHashes ?? throw CacheException.Invalid("the request names no storePathHashes");
        for (var i = 0; i < hashes.Count; i++)
        {
            if (!StorePath.IsValidHashPart(hashes[i]))
            {
                throw CacheException.Invalid(
                    $"storePathHashes[{i}] {ClientText.Quote(hashes[i])} is not a store path hash: expected 32 nix-base32 characters");
            }
        }

        var asked = new HashSet<string>(hashes, StringComparer.Ordinal);
        var present = await index.FindNarInfosAsync(cache.Id, asked, context.RequestAborted);
        var missing = new List<string>(asked.Count - present.Count);
        foreach (var hash in hashes)
        {
            if (!present.Contains(hash) && asked.Remove(hash))
            {
                missing.Add(hash);
            }
        }

        return Results.Ok(new MissingPathsResponse(missing));
    }
}

/// <summary>The body of <c>POST /_api/v1/caches/{name}/missing</c>.</summary>
public sealed record MissingPathsRequest(IReadOnlyList<string>? StorePathHashes);

/// <summary>The store path hashes of the request the cache has no narinfo for, in the order asked.</summary>
public sealed record MissingPathsResponse(IReadOnlyList<string> Missing);
