using System.CommandLine;
using System.Text.Json;
using Flywheel.Cache.Promotion;
using Flywheel.Cache.Server.Api;

namespace Flywheel.Cache.Server.Cli;

/// <summary>
/// <c>flywheel promote --server URL --token T --cache C --policy FILE --source REPO --revision REV [--attr ATTR]
/// [--to oci://REGISTRY/NAME:TAG | --to flakehub://ORG/FLAKE[@VERSION]] [--dry-run] [--json] STORE_PATH...</c> or, for a
/// FlakeHub release, <c>--flake-source DIR --flake-output ATTR...</c> instead of store paths: asks a running
/// daemon's gate to promote store paths and prints its decision (class, each rule with its reason, where it went, the
/// provenance digest); <c>--json</c> prints the promotion record on stdout instead (the readable lines go to stderr).
/// Registry credentials come from <c>--registry-user</c>/<c>--registry-password</c> or the containers auth file
/// (<see cref="RegistryAuthFile"/>), the FlakeHub OIDC token from <c>--flakehub-token</c> or
/// <c>$FLYWHEEL_FLAKEHUB_TOKEN</c>; they travel in the request and are neither printed nor recorded.
/// Exit codes: 0 published (with <c>--dry-run</c>: would publish); 1 not promoted (rejected, or nothing to publish to)
/// and usage errors (the convention of the other commands); 2 publishing failed, or the daemon could not be reached or
/// failed (the same command again retries).
/// </summary>
internal static class PromoteCommand
{
    public const int Published = 0;
    public const int NotPromoted = 1;
    public const int Failed = 2;

    /// <summary>How long the daemon may take to decide and publish (a large image is a long upload).</summary>
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(30);

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public static Command Create()
    {
        var daemon = new DaemonFlags("a token with promote on the cache");
        var cache = new Option<string>("--cache") { Description = "the cache that holds the store paths", DefaultValueFactory = _ => "main" };
        var policy = new Option<string>("--policy") { Description = "the promotion policy file (YAML or JSON)", Required = true };
        var source = new Option<string>("--source") { Description = "the source repository the outputs were built from (e.g. https://github.com/org/repo)" };
        var revision = new Option<string>("--revision") { Description = "the source revision (commit) they were built from" };
        var attr = new Option<string>("--attr") { Description = "the flake attribute that names the output (e.g. packages.x86_64-linux.app)" };
        var to = new Option<string>("--to") { Description = "oci://REGISTRY/NAME:TAG or flakehub://ORG/FLAKE; default: the policy's target for the class found" };
        var dryRun = new Option<bool>("--dry-run") { Description = "decide and report, publish nothing" };
        var json = new Option<bool>("--json") { Description = "print the promotion record as JSON on stdout" };
        var registryUser = new Option<string>("--registry-user") { Description = "registry user (default: the containers auth file, $REGISTRY_AUTH_FILE or $XDG_RUNTIME_DIR/containers/auth.json)" };
        var registryPassword = new Option<string>("--registry-password") { Description = "registry password or token, with --registry-user" };
        var flakeHubToken = new Option<string>("--flakehub-token") { Description = "the CI-issued OIDC token FlakeHub accepts (default: $FLYWHEEL_FLAKEHUB_TOKEN)" };
        var rebuild = new Option<string[]>("--rebuild") { Description = "STORE_PATH=NARHASH: the NarHash a `nix build --rebuild` of the path gave (reproducible evidence)" };
        var flakeSource = new Option<string>("--flake-source") { Description = "a FlakeHub release's source: a directory or store path holding flake.nix, as the daemon's machine sees it" };
        var flakeOutputs = new Option<string[]>("--flake-output") { Description = "with --flake-source: a flake output whose output paths are promoted (e.g. packages.x86_64-linux.default); repeat for more" };
        var paths = new Argument<string[]>("STORE_PATH") { Description = "the store paths to promote (none with --flake-source)", Arity = ArgumentArity.ZeroOrMore };
        var command = new Command("promote", "Ask the promotion gate to publish store paths: an OCI image to a registry, a flake release (its source and clean outputs) to FlakeHub.")
        {
            cache, policy, source, revision, attr, to, dryRun, json, registryUser, registryPassword, flakeHubToken, rebuild, flakeSource, flakeOutputs, paths,
        };
        daemon.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var machine = parse.GetValue(json);
            var human = machine ? Console.Error : Console.Out;
            try
            {
                var policyFile = parse.GetValue(policy)!;
                var policyText = File.Exists(policyFile) ? await File.ReadAllTextAsync(policyFile, cancellationToken) : throw CacheException.Invalid($"--policy: no file {policyFile}");
                var parsedPolicy = PolicyLoader.Parse(policyText);
                var target = parse.GetValue(to);
                var credentials = Credentials(
                    target ?? parsedPolicy.Targets.GetValueOrDefault(PromotionClass.OciImage), parse.GetValue(registryUser), parse.GetValue(registryPassword),
                    parse.GetValue(flakeHubToken) ?? Environment.GetEnvironmentVariable("FLYWHEEL_FLAKEHUB_TOKEN"));
                var storePaths = parse.GetValue(paths) ?? [];
                var flake = parse.GetValue(flakeSource) is { } dir ? Path.GetFullPath(dir) : null;
                if ((storePaths.Length == 0) == (flake is null))
                {
                    throw CacheException.Invalid("name the store paths to promote, or a flake source (--flake-source with --flake-output), not both");
                }

                var body = new PromotionRequestBody(
                    parse.GetValue(cache)!, storePaths, policyText, parse.GetValue(attr), parse.GetValue(source), parse.GetValue(revision),
                    target, parse.GetValue(dryRun), Rebuilds(parse.GetValue(rebuild) ?? []), credentials, flake, parse.GetValue(flakeOutputs) ?? []);
                await using var client = daemon.Client(parse, Timeout);
                var view = await client.PromoteAsync(body, cancellationToken);
                view = await WaitWhilePublishingAsync(client, view, human, cancellationToken);
                Print(view, human);
                if (machine)
                {
                    Console.WriteLine(JsonSerializer.Serialize(view, Json));
                }

                return ExitCode(view.Status);
            }
            catch (CacheException e)
            {
                Console.Error.WriteLine($"flywheel promote: {e.Message}");
                return e.Error == CacheError.Unavailable ? Failed : NotPromoted;
            }
            catch (IOException e)
            {
                Console.Error.WriteLine($"flywheel promote: {e.Message}");
                return NotPromoted;
            }
        });
        return command;
    }

    public static int ExitCode(string status) => status switch
    {
        PromotionStatus.Published or PromotionStatus.WouldPublish => Published,
        PromotionStatus.Failed or PromotionStatus.Publishing => Failed,
        _ => NotPromoted,
    };

    /// <summary>What travels to the publisher; registry credentials only for an oci:// target (flags, else the auth file).</summary>
    private static PublishCredentials? Credentials(string? target, string? user, string? password, string? flakeHubToken)
    {
        if ((user is null) != (password is null))
        {
            throw CacheException.Invalid("--registry-user and --registry-password go together");
        }

        if (user is null && target is not null && target.StartsWith("oci://", StringComparison.Ordinal))
        {
            var parsed = PromotionTarget.Parse(target);
            if (RegistryAuthFile.Find(RegistryAuthFile.DefaultPath(), parsed.Registry, parsed.Repository) is var (u, p))
            {
                (user, password) = (u, p);
            }
        }

        return user is null && flakeHubToken is null ? null : new PublishCredentials(user, password, flakeHubToken);
    }

    private static List<RebuildCheck> Rebuilds(string[] values) => values.Select(v =>
    {
        var eq = v.LastIndexOf('=');
        return eq > 0 ? new RebuildCheck(v[..eq], v[(eq + 1)..]) : throw CacheException.Invalid($"--rebuild '{v}' is not STORE_PATH=NARHASH");
    }).ToList();

    /// <summary>Another gateway (or an earlier run) is publishing this promotion: wait for its outcome.</summary>
    private static async Task<PromotionView> WaitWhilePublishingAsync(ApiAdminClient client, PromotionView view, TextWriter human, CancellationToken cancellationToken)
    {
        var deadline = DateTimeOffset.UtcNow + Timeout;
        if (view.Status == PromotionStatus.Publishing)
        {
            human.WriteLine($"promotion {view.Id}: being published by another request; waiting");
        }

        while (view.Status == PromotionStatus.Publishing && DateTimeOffset.UtcNow < deadline)
        {
            await Task.Delay(BuildCommand.Poll, cancellationToken);
            view = await client.GetPromotionAsync(view.Id, cancellationToken);
        }

        return view;
    }

    /// <summary>The decision in lines CI logs show well.</summary>
    private static void Print(PromotionView view, TextWriter output)
    {
        output.WriteLine($"promotion {view.Id}: {view.Status} (class {view.Class}{(view.Target is null ? "" : ", target " + view.Target)})");
        if (view.Decision is { } decision)
        {
            foreach (var rule in decision.GetProperty("rules").EnumerateArray())
            {
                var passed = rule.GetProperty("passed").GetBoolean();
                var required = rule.GetProperty("required").GetBoolean();
                output.WriteLine($"  {(passed ? "pass" : "FAIL")} {rule.GetProperty("rule").GetString()}{(required ? "" : " (not required)")}: {rule.GetProperty("reason").GetString()}");
            }

            foreach (var reason in decision.GetProperty("reasons").EnumerateArray())
            {
                output.WriteLine($"  rejected: {reason.GetString()}");
            }
        }

        if (view.Publication is { } publication)
        {
            output.WriteLine($"published: {publication.GetProperty("reference").GetString()}");
            if (publication.TryGetProperty("provenanceReference", out var attached) && attached.GetString() is { } where)
            {
                output.WriteLine($"provenance attached: {where}");
            }
        }

        if (view.ProvenanceSha256 is { } digest)
        {
            output.WriteLine($"provenance: sha256:{digest}");
        }

        if (view.Error is { } error)
        {
            output.WriteLine($"publishing failed: {error}");
        }

        if (view.Status == PromotionStatus.Kept)
        {
            output.WriteLine("not promoted: neither --to nor the policy's targets name a target for this output");
        }
    }
}
