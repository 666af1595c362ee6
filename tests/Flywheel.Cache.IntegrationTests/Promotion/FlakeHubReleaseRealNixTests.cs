using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Flywheel.Cache.IntegrationTests.Infrastructure;
using Flywheel.Cache.Tests.Promotion;

namespace Flywheel.Cache.IntegrationTests.Promotion;

/// <summary>
/// A FlakeHub release from CI with real Nix 2.8 (flakes on) and the real executable: a local flake with no inputs
/// (builder <c>/bin/sh</c>) is built, its package pushed to the gateway, and <c>flywheel promote --flake-source DIR
/// --flake-output ATTR</c> publishes it to an in-test FlakeHub that checks what FlakeHub checks (see
/// <see cref="InTestFlakeHub"/>); the test then compares the release field by field with what Nix says of the source
/// and substitutes the recorded output path from the cache with signatures required. Refused with reasons: a source
/// without flake.nix, an output not in the cache, another tarball under a released version, a wrong OIDC token; a
/// release that exists with the same tarball is success.
/// </summary>
public sealed class FlakeHubReleaseRealNixTests : IAsyncLifetime
{
    private const string Revision = "89abcdef0123456789abcdef0123456789abcdef";
    private const string OidcToken = "ci-oidc-token";
    private const string Default = "packages.x86_64-linux.default";
    private readonly NixEnvironment _nix = NixEnvironment.Require();
    private InTestFlakeHub _flakeHub = null!;
    private FlywheelProcess _daemon = null!;

    public async Task InitializeAsync()
    {
        _flakeHub = await InTestFlakeHub.StartAsync(OidcToken, "o/tool");
        _daemon = await FlywheelProcess.StartAsync(null, new Dictionary<string, string> { ["FLYWHEEL_Promotion__FlakeHubUrl"] = _flakeHub.Address.ToString() });
    }

    public async Task DisposeAsync()
    {
        await _daemon.DisposeAsync();
        await _flakeHub.DisposeAsync();
        await _nix.DisposeAsync();
    }

    // One derivation text for the flake and for nix-build (which registers the outputs for deletion): same .drv, same paths.
    private static string Package(string name, string nonce) =>
        $$"""derivation { name = "fw-flake-{{name}}-{{nonce}}"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "echo {{name}} {{nonce}} > $out" ]; }""";

    private Task<ProcessResult> NixAsync(params string[] arguments) => _nix.RunAsync("nix", ["--extra-experimental-features", "nix-command flakes", .. arguments]);

    private string PolicyFile(string comment)
    {
        var path = Path.Combine(_nix.Root, $"policy-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, $"# {comment}\ntrustCacheKey: true\nallow: [\"packages.*.default\", \"packages.*.other\"]\nrequire:\n  clean-derivation: [closure-complete, provenance, intentional]\n");
        return path;
    }

    private async Task<ProcessResult> PromoteAsync(string token, string policy, string source, string output, string oidcToken = OidcToken) =>
        await FlywheelProcess.CliAsync(
            new Dictionary<string, string> { ["FLYWHEEL_FLAKEHUB_TOKEN"] = oidcToken },
            ["promote", "--server", _daemon.BaseAddress.ToString(), "--token", token, "--cache", "main", "--policy", policy,
                "--source", "https://github.com/o/tool", "--revision", Revision, "--to", "flakehub://o/tool@1.0.0", "--json",
                "--flake-source", source, "--flake-output", output]);

    [Fact]
    public async Task A_flake_release_is_the_flakes_source_its_real_metadata_and_the_promoted_outputs_and_what_is_wrong_is_refused()
    {
        var nonce = _nix.NewNonce();
        var built = await _nix.BuildExpressionAsync("flake-package", $"{{ default = {Package("default", nonce)}; other = {Package("other", nonce)}; }}\n", "default", "other");
        var (package, other) = (built[0], built[1]);
        var source = Path.Combine(_nix.Root, "tool-flake");
        Directory.CreateDirectory(source);
        await File.WriteAllTextAsync(Path.Combine(source, "flake.nix"), $$"""
            {
              description = "a flake flywheel releases";
              outputs = { self }: {
                packages.x86_64-linux.default = {{Package("default", nonce)}};
                packages.x86_64-linux.other = {{Package("other", nonce)}};
              };
            }

            """);
        File.CreateSymbolicLink(Path.Combine(source, "flake-link"), "flake.nix");
        var token = (await FlywheelProcess.CliAsync(
            "token", "create", "--cache", "main", "--scope", "pull,push,promote", "--server", _daemon.BaseAddress.ToString(), "--token", _daemon.AdminToken)).EnsureSuccess().StandardOutput.Trim();
        var netrc = _nix.WriteNetrc("127.0.0.1", token);
        var cacheUrl = new Uri(_daemon.BaseAddress, "main").ToString();
        await _nix.CopyToAsync(cacheUrl + "?compression=zstd", [package], netrc); // not `other`

        // Refused: a source that is no flake.
        var empty = Path.Combine(_nix.Root, "not-a-flake");
        Directory.CreateDirectory(empty);
        var noFlake = await PromoteAsync(token, PolicyFile("no flake"), empty, Default);
        Assert.True(noFlake.ExitCode == 1, noFlake.ToString());
        Assert.Contains("holds no flake.nix", noFlake.StandardError, StringComparison.Ordinal);

        // Refused: an output the cache does not have.
        var missing = await PromoteAsync(token, PolicyFile("missing"), source, "packages.x86_64-linux.other");
        Assert.True(missing.ExitCode == 1, missing.ToString());
        Assert.Contains("FAIL closure-complete", missing.StandardError, StringComparison.Ordinal);
        Assert.Contains(Path.GetFileName(other), missing.StandardError, StringComparison.Ordinal);
        Assert.Empty(_flakeHub.Releases);

        // Published.
        var published = await PromoteAsync(token, PolicyFile("release"), source, Default);
        Assert.True(published.ExitCode == 0, published + "\n" + string.Join("\n", _flakeHub.Requests));
        var record = JsonDocument.Parse(published.StandardOutput).RootElement;
        Assert.Equal("clean-derivation", record.GetProperty("class").GetString());
        Assert.Equal([package], record.GetProperty("storePaths").EnumerateArray().Select(p => p.GetString()));
        var (tarball, metadata) = _flakeHub.Releases["1.0.0"];

        // raw_flake_metadata is `nix flake metadata --json` of the source; the tarball is that source.
        var nixMetadata = JsonNode.Parse((await NixAsync("flake", "metadata", "--json", "--no-write-lock-file", source)).EnsureSuccess().StandardOutput)!;
        Assert.True(JsonNode.DeepEquals(nixMetadata, JsonNode.Parse(metadata.GetProperty("raw_flake_metadata").GetRawText())),
            $"{nixMetadata.ToJsonString()}\n{metadata.GetProperty("raw_flake_metadata").GetRawText()}");
        Assert.Equal(Revision, metadata.GetProperty("revision").GetString());
        Assert.Equal("a flake flywheel releases", metadata.GetProperty("description").GetString());
        var lastModified = DateTimeOffset.FromUnixTimeSeconds(nixMetadata["lastModified"]!.GetValue<long>());
        var entries = new Dictionary<string, TarEntry>();
        using (var tar = new TarReader(new GZipStream(new MemoryStream(tarball), CompressionMode.Decompress)))
        {
            while (tar.GetNextEntry(copyData: true) is { } entry)
            {
                entries.Add(entry.Name, entry);
            }
        }

        Assert.Equal(["tool-flake/", "tool-flake/flake-link", "tool-flake/flake.nix"], entries.Keys);
        Assert.All(entries.Values, e => Assert.Equal(lastModified, e.ModificationTime));
        Assert.All(entries.Values, e => Assert.Equal((0, 0), (e.Uid, e.Gid)));
        Assert.Equal("flake.nix", entries["tool-flake/flake-link"].LinkName);
        Assert.Equal(await File.ReadAllTextAsync(Path.Combine(source, "flake.nix")), new StreamReader(entries["tool-flake/flake.nix"].DataStream!).ReadToEnd());

        // outputs: what `nix flake show` lists, with the promoted output's paths recorded against its attribute.
        var show = JsonNode.Parse((await NixAsync("flake", "show", "--json", "--no-write-lock-file", source)).EnsureSuccess().StandardOutput)!;
        var system = metadata.GetProperty("outputs").GetProperty("inventory").GetProperty("packages").GetProperty("children").GetProperty("x86_64-linux").GetProperty("children");
        Assert.Equal(show["packages"]!["x86_64-linux"]!.AsObject().Select(p => p.Key).Order(), system.EnumerateObject().Select(p => p.Name).Order());
        Assert.Equal(package, system.GetProperty("default").GetProperty("outputs").GetProperty("out").GetString());
        var derivation = (await _nix.RunAsync("nix-store", ["--query", "--deriver", package])).EnsureSuccess().StandardOutput.Trim();
        Assert.Equal(derivation, system.GetProperty("default").GetProperty("derivation").GetString());
        Assert.False(system.GetProperty("other").TryGetProperty("outputs", out _));
        Assert.Equal("derivation", system.GetProperty("other").GetProperty("what").GetString());

        // The provenance names the tarball's sha256, the revision, and the output path with its NarHash.
        var narHash = (await _nix.RunAsync("nix-store", ["--query", "--hash", package])).EnsureSuccess().StandardOutput.Trim();
        var provenance = record.GetProperty("provenance");
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(tarball)), provenance.GetProperty("subject")[0].GetProperty("digest").GetProperty("sha256").GetString());
        var parameters = provenance.GetProperty("predicate").GetProperty("buildDefinition").GetProperty("externalParameters");
        Assert.Equal(Revision, parameters.GetProperty("source").GetProperty("revision").GetString());
        Assert.Equal(package, parameters.GetProperty("flake").GetProperty("outputs").GetProperty(Default).GetProperty("out").GetString());
        var dependency = provenance.GetProperty("predicate").GetProperty("buildDefinition").GetProperty("resolvedDependencies").EnumerateArray()
            .Single(d => d.GetProperty("uri").GetString() == "nix:" + package);
        Assert.Equal(narHash, dependency.GetProperty("annotations").GetProperty("narHash").GetString());

        // The released output is substitutable from the cache, signatures required.
        await _nix.DeletePathsAsync([package]);
        await _nix.RealiseAsync([package], cacheUrl, _daemon.PublicKey);
        Assert.True(await _nix.IsValidAsync(package));

        // The release exists with the same tarball (another promotion of the same source): success, nothing uploaded.
        var again = await PromoteAsync(token, PolicyFile("again"), source, Default);
        Assert.True(again.ExitCode == 0, again + "\n" + string.Join("\n", _flakeHub.Requests));
        Assert.Equal("the release existed already with this tarball",
            JsonDocument.Parse(again.StandardOutput).RootElement.GetProperty("publication").GetProperty("details").GetProperty("note").GetString());
        Assert.Equal(tarball, _flakeHub.Releases["1.0.0"].Tarball);

        // Refused: another tarball under the released version.
        await File.WriteAllTextAsync(Path.Combine(source, "README.md"), "# tool\n");
        var changed = await PromoteAsync(token, PolicyFile("changed"), source, Default);
        Assert.True(changed.ExitCode == 2, changed.ToString());
        Assert.Contains("FlakeHub already has o/tool 1.0.0 with another tarball", changed.StandardError, StringComparison.Ordinal);
        Assert.Equal(tarball, _flakeHub.Releases["1.0.0"].Tarball);

        // Refused by FlakeHub: a wrong OIDC token.
        var unauthorized = await PromoteAsync(token, PolicyFile("wrong token"), source, Default, oidcToken: "wrong");
        Assert.True(unauthorized.ExitCode == 2, unauthorized.ToString());
        Assert.Contains("FlakeHub GET token answered 401", unauthorized.StandardError, StringComparison.Ordinal);
    }
}
