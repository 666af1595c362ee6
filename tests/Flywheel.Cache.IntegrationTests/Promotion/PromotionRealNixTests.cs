using System.Net.Http.Headers;
using System.Text.Json;
using Flywheel.Cache.IntegrationTests.Infrastructure;
using Flywheel.Cache.Tests.Infrastructure;

namespace Flywheel.Cache.IntegrationTests.Promotion;

/// <summary>
/// From CI, end to end with real Nix and the real executable: a derivation (a <c>/bin/sh</c> builder, no nixpkgs)
/// writes an OCI image layout, <c>nix copy</c> puts it in the gateway, <c>flywheel promote</c> publishes it to a
/// real registry (skopeo pulls it, digest matching); a derivation rebuilt with <c>nix-build --check</c> is found a clean
/// derivation (a dry run: FlakeHub releases are flake sources, <see cref="FlakeHubReleaseRealNixTests"/>); what is not
/// clean is refused with reasons (exit 1); every decision is there to look up afterwards.
/// </summary>
public sealed class PromotionRealNixTests : IAsyncLifetime
{
    private const string Revision = "0123456789abcdef0123456789abcdef01234567";
    private readonly NixEnvironment _nix = NixEnvironment.Require();
    private readonly DockerRegistry _registry = new();
    private FlywheelProcess _daemon = null!;

    public async Task InitializeAsync()
    {
        await _registry.InitializeAsync();
        _daemon = await FlywheelProcess.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _daemon.DisposeAsync();
        await _registry.DisposeAsync();
        await _nix.DisposeAsync();
    }

    internal static string Expression(string nonce) =>
        // The builder has no PATH and no sandbox (see NixEnvironment): host tools are named absolutely.
        $$$"""
        let
          mk = name: script: derivation {
            name = "fw-${name}-{{{nonce}}}";
            system = builtins.currentSystem;
            builder = "/bin/sh";
            args = [ "-e" "-c" script ];
          };
        in {
          image = mk "image" ''
            export PATH=/bin:/usr/bin
            mkdir -p rootfs "$out/blobs/sha256"
            printf 'hello from a nix-built image {{{nonce}}}\n' > rootfs/hello.txt
            tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@1 -cf layer.tar -C rootfs hello.txt
            layer=$(sha256sum layer.tar | cut -d' ' -f1); layerSize=$(stat -c %s layer.tar)
            cp layer.tar "$out/blobs/sha256/$layer"
            printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/hello.txt"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$layer" > config.json
            config=$(sha256sum config.json | cut -d' ' -f1); configSize=$(stat -c %s config.json)
            cp config.json "$out/blobs/sha256/$config"
            printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' "$config" "$configSize" "$layer" "$layerSize" > manifest.json
            manifest=$(sha256sum manifest.json | cut -d' ' -f1); manifestSize=$(stat -c %s manifest.json)
            cp manifest.json "$out/blobs/sha256/$manifest"
            printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s}]}' "$manifest" "$manifestSize" > "$out/index.json"
            printf '{"imageLayoutVersion":"1.0.0"}' > "$out/oci-layout"
          '';
          tool = mk "tool" ''
            /bin/mkdir -p "$out/bin"
            printf '#!/bin/sh\necho tool {{{nonce}}}\n' > "$out/bin/tool"
            /bin/chmod +x "$out/bin/tool"
          '';
        }

        """;

    private string PolicyFile(string text)
    {
        var path = Path.Combine(_nix.Root, $"policy-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, text);
        return path;
    }

    private async Task<ProcessResult> PromoteAsync(string token, string policy, string attribute, string target, string storePath, params string[] extra)
    {
        var authFile = Path.Combine(_nix.Root, "no-registry-auth.json");
        return await FlywheelProcess.CliAsync(
            new Dictionary<string, string> { ["REGISTRY_AUTH_FILE"] = authFile },
            ["promote", "--server", _daemon.BaseAddress.ToString(), "--token", token, "--cache", "main", "--policy", policy,
                "--source", "https://github.com/o/tool", "--revision", Revision, "--attr", attribute, "--to", target, "--json", .. extra, storePath]);
    }

    [Fact]
    public async Task Ci_promotes_a_nix_built_image_and_a_clean_derivation_refuses_what_is_not_clean_and_every_decision_stays()
    {
        var nonce = _nix.NewNonce();
        var expression = Expression(nonce);
        var built = await _nix.BuildExpressionAsync("promotion", expression, "image", "tool");
        var (image, tool) = (built[0], built[1]);
        var token = (await FlywheelProcess.CliAsync(
            "token", "create", "--cache", "main", "--scope", "pull,push,promote", "--server", _daemon.BaseAddress.ToString(), "--token", _daemon.AdminToken)).EnsureSuccess().StandardOutput.Trim();
        await _nix.CopyToAsync(new Uri(_daemon.BaseAddress, "main") + "?compression=zstd", [image, tool], _nix.WriteNetrc("127.0.0.1", token));
        var policy = PolicyFile("trustCacheKey: true\nallow: [\"packages.*.image\", \"packages.*.tool\"]\n");
        var ids = new Dictionary<string, string>();

        // 1. The image, to the registry.
        var pushed = await PromoteAsync(token, policy, "packages.x86_64-linux.image", $"oci://{_registry.Host}/app:v1", image);
        Assert.True(pushed.ExitCode == 0, pushed.ToString());
        var record = JsonDocument.Parse(pushed.StandardOutput).RootElement;
        ids[record.GetProperty("id").GetString()!] = "published";
        var digest = record.GetProperty("publication").GetProperty("details").GetProperty("manifestDigest").GetString();
        using (var inspect = JsonDocument.Parse(await Skopeo.RunAsync("inspect", "--tls-verify=false", $"docker://{_registry.Host}/app:v1")))
        {
            Assert.Equal(digest, inspect.RootElement.GetProperty("Digest").GetString());
        }

        // What was built is what is published: the digest index.json names, again when promoted again.
        using (var layout = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(image, "index.json"))))
        {
            Assert.Equal(layout.RootElement.GetProperty("manifests")[0].GetProperty("digest").GetString(), digest);
        }

        var again = await PromoteAsync(token, policy, "packages.x86_64-linux.image", $"oci://{_registry.Host}/app:v2", image);
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Equal(digest, JsonDocument.Parse(again.StandardOutput).RootElement.GetProperty("publication").GetProperty("details").GetProperty("manifestDigest").GetString());
        using (var inspect = JsonDocument.Parse(await Skopeo.RunAsync("inspect", "--tls-verify=false", $"docker://{_registry.Host}/app:v2")))
        {
            Assert.Equal(digest, inspect.RootElement.GetProperty("Digest").GetString());
        }

        // The provenance is a referrer of the image, listed under the referrers tag (distribution 2.8 has no referrers API).
        var provenanceDigest = record.GetProperty("publication").GetProperty("details").GetProperty("provenanceDigest").GetString()!;
        using (var referrers = JsonDocument.Parse(await Skopeo.RunAsync("inspect", "--raw", "--tls-verify=false", $"docker://{_registry.Host}/app:sha256-{digest![7..]}")))
        {
            Assert.Contains(referrers.RootElement.GetProperty("manifests").EnumerateArray(), m => m.GetProperty("digest").GetString() == provenanceDigest);
        }

        using (var artifact = JsonDocument.Parse(await Skopeo.RunAsync("inspect", "--raw", "--tls-verify=false", $"docker://{_registry.Host}/app@{provenanceDigest}")))
        {
            Assert.Equal(digest, artifact.RootElement.GetProperty("subject").GetProperty("digest").GetString());
        }

        var copy = Path.Combine(_nix.Root, "pulled");
        await Skopeo.RunAsync("copy", "--src-tls-verify=false", $"docker://{_registry.Host}/app:v1", $"oci:{copy}:v1");
        Assert.True(File.Exists(Path.Combine(copy, "index.json")));
        Assert.Contains("sha256:", pushed.StandardError, StringComparison.Ordinal); // the readable decision names the provenance digest

        // 2. The tool, rebuilt to check it is reproducible: a clean derivation (a dry run).
        var file = Directory.GetFiles(Path.Combine(_nix.Root, "exprs"), "promotion-*.nix").Single();
        (await _nix.RunAsync("nix-build", ["--check", "--no-out-link", file, "-A", "tool"])).EnsureSuccess();
        var narHash = (await _nix.RunAsync("nix-store", ["--query", "--hash", tool])).EnsureSuccess().StandardOutput.Trim();
        var released = await PromoteAsync(token, policy, "packages.x86_64-linux.tool", "flakehub://o/tool", tool, "--rebuild", $"{tool}={narHash}", "--dry-run");
        Assert.True(released.ExitCode == 0, released.ToString());
        var release = JsonDocument.Parse(released.StandardOutput).RootElement;
        Assert.Equal("clean-derivation", release.GetProperty("class").GetString());
        ids[release.GetProperty("id").GetString()!] = "would-publish";

        // 3. Not clean: unsigned by any trusted builder, and not on the allow-list.
        var strict = PolicyFile($"trustedKeys: [\"other-1:{Convert.ToBase64String(new byte[32])}\"]\nallow: [\"packages.*.other\"]\n");
        var refused = await PromoteAsync(token, strict, "packages.x86_64-linux.tool", "flakehub://o/tool", tool);
        Assert.True(refused.ExitCode == 1, refused.ToString());
        Assert.Contains("FAIL provenance", refused.StandardError, StringComparison.Ordinal);
        Assert.Contains("rejected: intentional: ", refused.StandardError, StringComparison.Ordinal);
        ids[JsonDocument.Parse(refused.StandardOutput).RootElement.GetProperty("id").GetString()!] = "rejected";

        using var http = new HttpClient { BaseAddress = _daemon.BaseAddress };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        foreach (var (id, status) in ids)
        {
            var stored = JsonDocument.Parse(await http.GetStringAsync($"_api/v1/promotions/{id}")).RootElement;
            Assert.Equal(status, stored.GetProperty("status").GetString());
        }

        var listed = await http.GetStringAsync("_api/v1/promotions?cache=main&repository=" + Uri.EscapeDataString("https://github.com/o/tool"));
        Assert.All(ids.Keys, id => Assert.Contains(id, listed, StringComparison.Ordinal));
    }
}
