using Flywheel.Cache.Caches;
using Flywheel.Cache.Index;

namespace Flywheel.Cache.Server.Auth;

/// <summary>
/// Bazel instance names are caches: the same namespaces, tokens and quotas as the Nix caches. The empty
/// instance name (what Bazel sends without <c>--remote_instance_name</c>, and the HTTP cache without a path
/// prefix) is the configured default instance.
/// </summary>
public sealed class BazelInstances
{
    private readonly RequestAuthorizer _auth;

    public BazelInstances(RequestAuthorizer auth, string defaultInstance)
    {
        _auth = auth;
        DefaultInstance = defaultInstance;
    }

    public string DefaultInstance { get; }

    /// <summary>Finds the instance and checks the request's token for <paramref name="needed"/> on it.</summary>
    public async ValueTask<CacheContext> ResolveAsync(HttpContext context, string? instanceName, TokenScopes needed)
    {
        var name = string.IsNullOrEmpty(instanceName) ? DefaultInstance : instanceName;
        if (!CacheNames.IsValid(name))
        {
            throw CacheException.Invalid($"{ClientText.Quote(name)} is not a valid instance name: instances are caches, named with 1 to {CacheNames.MaxLength} characters a-z, 0-9, '-', '_' or '.'");
        }

        // An instance the caller may not discover answers exactly as a missing one (RequestAuthorizer).
        return await _auth.FindAsync(context, name, needed)
            ?? throw CacheException.NotFound($"no instance named '{name}'; create it with `flywheel cache create {name}`");
    }
}
