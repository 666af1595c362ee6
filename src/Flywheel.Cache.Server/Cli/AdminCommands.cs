using System.CommandLine;
using Flywheel.Cache.Server.Api;

namespace Flywheel.Cache.Server.Cli;

/// <summary>
/// <c>flywheel cache …</c> and <c>flywheel token …</c>: against a running daemon with <c>--server URL --token T</c>
/// (or FLYWHEEL_SERVER / FLYWHEEL_TOKEN), otherwise directly on the data folder <c>--data</c>.
/// </summary>
internal static class AdminCommands
{
    private static readonly Option<string> Server = new("--server") { Description = "URL of a running daemon (default: $FLYWHEEL_SERVER; absent: work on --data directly)", Recursive = true };
    private static readonly Option<string> Token = new("--token") { Description = "admin token for --server (default: $FLYWHEEL_TOKEN)", Recursive = true };
    private static readonly Option<string> Data = new("--data") { Description = "data folder to work on when no --server is given; default ./.flywheel", Recursive = true };

    public static Command CreateCacheCommand()
    {
        var cache = new Command("cache", "Create, list, inspect and change caches (Nix caches and Bazel instances); pin store paths.");
        cache.Add(Server);
        cache.Add(Token);
        cache.Add(Data);

        var name = new Argument<string>("NAME") { Description = "cache name (a-z, 0-9, '-', '_', '.')" };
        var isPublic = new Option<bool>("--public") { Description = "anyone may pull without a token" };
        var priority = new Option<int>("--priority") { Description = "Priority in nix-cache-info (lower is preferred); default 40", DefaultValueFactory = _ => 40 };
        var retention = new Option<string>("--retention") { Description = "collect Nix paths not accessed for this long, e.g. 30d (at least 1h); default: keep them" };
        var quota = new Option<string>("--quota") { Description = "evict the least recently used CAS blobs beyond this size, e.g. 50GiB; default: no quota" };
        var create = new Command("create", "Create a cache with a fresh signing key.") { name, isPublic, priority, retention, quota };
        create.SetAction((parse, ct) => RunAsync(parse, ct, async client =>
        {
            var view = await client.CreateCacheAsync(
                new CreateCacheRequest(parse.GetValue(name)!, parse.GetValue(isPublic), parse.GetValue(priority), parse.GetValue(retention), parse.GetValue(quota)), ct);
            Console.WriteLine($"created cache {view.Name} ({Describe(view)})");
            Console.WriteLine($"trusted-public-keys: {view.PublicKey}");
        }));

        var updateName = new Argument<string>("NAME") { Description = "cache name" };
        var setPublic = new Option<bool?>("--public") { Description = "true: anyone may pull without a token; false: pulling needs a token" };
        var setPriority = new Option<int?>("--priority") { Description = "Priority in nix-cache-info (lower is preferred)" };
        var setRetention = new Option<string>("--retention") { Description = "e.g. 30d, or off to keep Nix paths" };
        var setQuota = new Option<string>("--quota") { Description = "e.g. 50GiB, or off for no quota" };
        var update = new Command("update", "Change a cache's settings; what is not given stays.") { updateName, setPublic, setPriority, setRetention, setQuota };
        update.SetAction((parse, ct) => RunAsync(parse, ct, async client =>
        {
            var view = await client.UpdateCacheAsync(
                parse.GetValue(updateName)!,
                new UpdateCacheRequest(parse.GetValue(setPublic), parse.GetValue(setPriority), parse.GetValue(setRetention), parse.GetValue(setQuota)),
                ct);
            Console.WriteLine($"cache {view.Name}: {Describe(view)}");
        }));

        var showName = new Argument<string>("NAME") { Description = "cache name" };
        var show = new Command("show", "Show a cache's settings and what it holds.") { showName };
        show.SetAction((parse, ct) => RunAsync(parse, ct, async client =>
        {
            var view = await client.GetCacheAsync(parse.GetValue(showName)!, ct);
            Console.WriteLine($"cache {view.Name}: {Describe(view)}");
            Console.WriteLine($"public key: {view.PublicKey}");
            if (view.Usage is { } u)
            {
                Console.WriteLine($"narinfos: {u.NarInfos}, NAR files: {u.NarFiles} ({u.NarBytes} bytes), pins: {u.Pins}");
                Console.WriteLine($"CAS blobs: {u.Blobs} ({u.BlobBytes} bytes{(view.QuotaBytes is { } q ? $" of {q} allowed" : "")}), action results: {u.ActionResults}");
            }
        }));

        var pinCache = new Argument<string>("NAME") { Description = "cache name" };
        var pinPath = new Argument<string>("STORE-PATH") { Description = "store path, its base name, or its hash part" };
        var reason = new Option<string>("--reason") { Description = "why it is pinned (shown in pin lists)" };
        var pin = new Command("pin", "Pin a store path: retention never collects it or its closure.") { pinCache, pinPath, reason };
        pin.SetAction((parse, ct) => RunAsync(parse, ct, async client =>
        {
            await client.PinAsync(parse.GetValue(pinCache)!, new PinRequest(parse.GetValue(pinPath)!, parse.GetValue(reason)), ct);
            Console.WriteLine($"pinned {parse.GetValue(pinPath)} in {parse.GetValue(pinCache)}");
        }));

        var unpinCache = new Argument<string>("NAME") { Description = "cache name" };
        var unpinPath = new Argument<string>("STORE-PATH") { Description = "store path, its base name, or its hash part" };
        var unpin = new Command("unpin", "Remove a pin.") { unpinCache, unpinPath };
        unpin.SetAction((parse, ct) => RunAsync(parse, ct, async client =>
        {
            await client.UnpinAsync(parse.GetValue(unpinCache)!, parse.GetValue(unpinPath)!, ct);
            Console.WriteLine($"unpinned {parse.GetValue(unpinPath)} in {parse.GetValue(unpinCache)}");
        }));

        var pinsCache = new Argument<string>("NAME") { Description = "cache name" };
        var pins = new Command("pins", "List a cache's pins.") { pinsCache };
        pins.SetAction((parse, ct) => RunAsync(parse, ct, async client =>
        {
            foreach (var p in await client.ListPinsAsync(parse.GetValue(pinsCache)!, ct))
            {
                Console.WriteLine($"{p.StorePathHash}  {p.CreatedAt:yyyy-MM-dd HH:mm}  {p.Reason}");
            }
        }));

        var list = new Command("list", "List caches.");
        list.SetAction((parse, ct) => RunAsync(parse, ct, async client =>
        {
            var caches = await client.ListCachesAsync(ct);
            Console.WriteLine($"{"NAME",-24} {"ACCESS",-8} {"PRIORITY",8}  PUBLIC KEY");
            foreach (var c in caches)
            {
                Console.WriteLine($"{c.Name,-24} {(c.Public ? "public" : "private"),-8} {c.Priority,8}  {c.PublicKey}");
            }
        }));

        var keyName = new Argument<string>("NAME") { Description = "cache name" };
        var key = new Command("key", "Print a cache's public key (for trusted-public-keys).") { keyName };
        key.SetAction((parse, ct) => RunAsync(parse, ct, async client =>
            Console.WriteLine((await client.GetCacheAsync(parse.GetValue(keyName)!, ct)).PublicKey)));

        cache.Add(create);
        cache.Add(update);
        cache.Add(list);
        cache.Add(show);
        cache.Add(key);
        cache.Add(pin);
        cache.Add(unpin);
        cache.Add(pins);
        cache.Add(CreateUpstreamCommand());
        cache.Add(CreateTrustCommand());
        return cache;
    }

    private static string Describe(CacheView view) =>
        $"{(view.Public ? "public" : "private")}, priority {view.Priority}, retention {view.Retention ?? "off"}, quota {view.Quota ?? "off"}";

    private static Command CreateUpstreamCommand()
    {
        var upstream = new Command("upstream", "Configure the upstream Nix caches a cache reads through to (Attic, cache.nixos.org, any binary cache).");
        var cacheName = new Argument<string>("CACHE") { Description = "cache name" };
        var url = new Argument<string>("URL") { Description = "the upstream's URL, e.g. https://cache.nixos.org or https://attic.example/main" };
        var keys = new Option<string[]>("--trusted-key")
        {
            Description = "public key (name:base64) the upstream's narinfos must be signed by; repeat for several",
            Required = true,
            AllowMultipleArgumentsPerToken = false,
        };
        var priority = new Option<int?>("--priority") { Description = "lower is asked first; default 50" };
        // Not --token: that is the admin token for --server.
        var token = new Option<string>("--upstream-token") { Description = "sent to the upstream as a Bearer token (Attic)" };
        var timeout = new Option<string>("--timeout") { Description = "per request, e.g. 10s (the default) or 1m" };
        var add = new Command("add", "Add an upstream to a cache.") { cacheName, url, keys, priority, token, timeout };
        add.SetAction((parse, ct) => RunAsync(parse, ct, async client =>
        {
            var view = await client.AddUpstreamAsync(parse.GetValue(cacheName)!, new AddUpstreamRequest(
                parse.GetValue(url)!, parse.GetValue(keys) ?? [], parse.GetValue(priority), parse.GetValue(token), parse.GetValue(timeout)), ct);
            Console.WriteLine($"cache {parse.GetValue(cacheName)} reads through to {view.Url} (priority {view.Priority}, timeout {view.TimeoutSeconds}s)");
        }));

        var listCache = new Argument<string>("CACHE") { Description = "cache name" };
        var list = new Command("list", "List a cache's upstreams in the order they are asked.") { listCache };
        list.SetAction((parse, ct) => RunAsync(parse, ct, async client =>
        {
            Console.WriteLine($"{"PRIORITY",8}  {"URL",-40} {"TIMEOUT",8} {"TOKEN",-5}  TRUSTED KEYS");
            foreach (var u in await client.ListUpstreamsAsync(parse.GetValue(listCache)!, ct))
            {
                Console.WriteLine($"{u.Priority,8}  {u.Url,-40} {u.TimeoutSeconds + "s",8} {(u.HasToken ? "yes" : "no"),-5}  {string.Join(' ', u.TrustedKeys)}");
            }
        }));

        var removeCache = new Argument<string>("CACHE") { Description = "cache name" };
        var removeUrl = new Argument<string>("URL") { Description = "the upstream's URL as listed" };
        var remove = new Command("remove", "Remove an upstream from a cache.") { removeCache, removeUrl };
        remove.SetAction((parse, ct) => RunAsync(parse, ct, async client =>
        {
            await client.RemoveUpstreamAsync(parse.GetValue(removeCache)!, parse.GetValue(removeUrl)!, ct);
            Console.WriteLine($"removed upstream {parse.GetValue(removeUrl)} from {parse.GetValue(removeCache)}");
        }));

        upstream.Add(add);
        upstream.Add(list);
        upstream.Add(remove);
        return upstream;
    }

    private static Command CreateTrustCommand()
    {
        var trust = new Command("trust", "Let CI jobs exchange their OIDC ID token (GitHub Actions, GitLab) for a token on a cache: no stored secret.");
        var cacheName = new Argument<string>("CACHE") { Description = "cache name" };
        var issuer = new Option<string>("--issuer") { Description = "the OIDC issuer, e.g. https://token.actions.githubusercontent.com (https://, or http:// on loopback)", Required = true };
        var audience = new Option<string>("--audience") { Description = "the aud the ID token must carry, e.g. flywheel", Required = true };
        var claims = new Option<string[]>("--claim") { Description = "NAME=GLOB the ID token's claim must match, e.g. repository=org/*; repeat for several (all must match)" };
        var scopes = new Option<string>("--scope") { Description = "comma-separated: pull, push, promote", Required = true };
        var ttl = new Option<string>("--ttl") { Description = "lifetime of minted tokens, e.g. 1h (the default); never past the ID token's expiry" };
        var add = new Command("add", "Add a trust policy to a cache.") { cacheName, issuer, audience, claims, scopes, ttl };
        add.SetAction((parse, ct) => RunAsync(parse, ct, async client =>
        {
            var view = await client.AddTrustPolicyAsync(parse.GetValue(cacheName)!, new AddTrustPolicyRequest(
                parse.GetValue(issuer)!, parse.GetValue(audience)!, parse.GetValue(claims) ?? [], parse.GetValue(scopes)!, parse.GetValue(ttl)), ct);
            Console.WriteLine($"trust policy {view.Id} on {parse.GetValue(cacheName)}: {Describe(view)}");
        }));

        var listCache = new Argument<string>("CACHE") { Description = "cache name" };
        var list = new Command("list", "List a cache's trust policies.") { listCache };
        list.SetAction((parse, ct) => RunAsync(parse, ct, async client =>
        {
            foreach (var p in await client.ListTrustPoliciesAsync(parse.GetValue(listCache)!, ct))
            {
                Console.WriteLine($"{p.Id}  {Describe(p)}");
            }
        }));

        var removeCache = new Argument<string>("CACHE") { Description = "cache name" };
        var id = new Argument<string>("ID") { Description = "trust policy id (trust_…)" };
        var remove = new Command("remove", "Remove a trust policy (tokens it minted live on until they expire; revoke them with flywheel token revoke).") { removeCache, id };
        remove.SetAction((parse, ct) => RunAsync(parse, ct, async client =>
        {
            await client.RemoveTrustPolicyAsync(parse.GetValue(removeCache)!, parse.GetValue(id)!, ct);
            Console.WriteLine($"removed trust policy {parse.GetValue(id)} from {parse.GetValue(removeCache)}");
        }));

        trust.Add(add);
        trust.Add(list);
        trust.Add(remove);
        return trust;
    }

    private static string Describe(TrustPolicyView p) =>
        $"issuer {p.Issuer}, audience {p.Audience}, claims {(p.Claims.Count == 0 ? "(any)" : string.Join(' ', p.Claims))}, scopes {string.Join(',', p.Scopes)}, ttl {p.Ttl}";

    public static Command CreateTokenCommand()
    {
        var token = new Command("token", "Issue, list and revoke access tokens.");
        token.Add(Server);
        token.Add(Token);
        token.Add(Data);

        var cachePattern = new Option<string>("--cache") { Description = "cache name or glob (e.g. main, team-*, *)", Required = true };
        var scopes = new Option<string>("--scope") { Description = "comma-separated: pull, push, admin, promote", Required = true };
        var ttl = new Option<string>("--ttl") { Description = "lifetime, e.g. 30d, 12h; default: until revoked" };
        var description = new Option<string>("--description") { Description = "a note shown in token list" };
        var create = new Command("create", "Issue a token; its secret is printed once and only its hash is stored.") { cachePattern, scopes, ttl, description };
        create.SetAction((parse, ct) => RunAsync(parse, ct, async client =>
        {
            var created = await client.CreateTokenAsync(
                new CreateTokenRequest(parse.GetValue(cachePattern)!, parse.GetValue(scopes)!, parse.GetValue(ttl), parse.GetValue(description)), ct);
            Console.Error.WriteLine($"token {created.Token.Id}: {string.Join(',', created.Token.Scopes)} on '{created.Token.Cache}'"
                + (created.Token.ExpiresAt is { } e ? $", expires {e:u}" : "") + " (the secret below is shown only now)");
            Console.WriteLine(created.Secret);
        }));

        var list = new Command("list", "List tokens (never their secrets).");
        list.SetAction((parse, ct) => RunAsync(parse, ct, async client =>
        {
            Console.WriteLine($"{"ID",-22} {"CACHE",-16} {"SCOPES",-26} {"EXPIRES",-20} STATE");
            foreach (var t in await client.ListTokensAsync(ct))
            {
                var state = t.RevokedAt is not null ? "revoked" : t.ExpiresAt < DateTimeOffset.UtcNow ? "expired" : "live";
                Console.WriteLine($"{t.Id,-22} {t.Cache,-16} {string.Join(',', t.Scopes),-26} {(t.ExpiresAt?.ToString("u") ?? "never"),-20} {state}");
            }
        }));

        var id = new Argument<string>("ID") { Description = "token id (tok_…)" };
        var revoke = new Command("revoke", "Revoke a token.") { id };
        revoke.SetAction((parse, ct) => RunAsync(parse, ct, async client =>
        {
            await client.RevokeTokenAsync(parse.GetValue(id)!, ct);
            Console.WriteLine($"revoked {parse.GetValue(id)}");
        }));

        token.Add(create);
        token.Add(list);
        token.Add(revoke);
        return token;
    }

    private static async Task<int> RunAsync(System.CommandLine.ParseResult parse, CancellationToken ct, Func<IAdminClient, Task> action)
    {
        try
        {
            await using var client = await ConnectAsync(parse, ct);
            await action(client);
            return 0;
        }
        catch (CacheException e)
        {
            Console.Error.WriteLine($"flywheel: {e.Message}");
            return e.Error switch { CacheError.Invalid => 2, _ => 1 };
        }
    }

    private static async Task<IAdminClient> ConnectAsync(System.CommandLine.ParseResult parse, CancellationToken ct)
    {
        var server = parse.GetValue(Server) ?? Environment.GetEnvironmentVariable("FLYWHEEL_SERVER");
        if (string.IsNullOrEmpty(server))
        {
            return await LocalAdminClient.OpenAsync(parse.GetValue(Data) ?? Environment.GetEnvironmentVariable("FLYWHEEL_DATA") ?? ".flywheel", ct);
        }

        if (!Uri.TryCreate(server, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            throw CacheException.Invalid($"--server '{server}' is not an http(s) URL");
        }

        var token = parse.GetValue(Token) ?? Environment.GetEnvironmentVariable("FLYWHEEL_TOKEN");
        if (string.IsNullOrEmpty(token))
        {
            throw CacheException.Invalid("--server needs --token (or FLYWHEEL_TOKEN): an admin token, e.g. the one in <data>/admin.token");
        }

        return new ApiAdminClient(uri, token.Trim());
    }
}
