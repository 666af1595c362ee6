using System.Net;
using System.Net.Http.Json;
using Flywheel.Cache.Server.Api;
using Flywheel.Cache.Tests.Server;
using static Flywheel.Cache.Tests.Promotion.PromotionClient;

namespace Flywheel.Cache.Tests.Promotion;

/// <summary>
/// A FlakeHub release request whose flake source or outputs are malformed is refused with 400 and a short reason before
/// Nix reads anything, and nothing is recorded: relative or unnormalised paths, a directory without flake.nix, attribute
/// paths Nix would read as more than an attribute, flake outputs without a source, store paths next to a source.
/// </summary>
public sealed class FlakeSourceValidationTests(DaemonFixture daemon) : IClassFixture<DaemonFixture>, IDisposable
{
    private const string Policy = """{"trustCacheKey": true, "allow": ["packages.*"]}""";
    private readonly string _folder = Directory.CreateTempSubdirectory("flywheel-flake-source-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private async Task<string> RefusedAsync(PromotionRequestBody body)
    {
        var client = daemon.CreateClient(await CreatePromoteTokenAsync(daemon.CreateClient(daemon.AdminToken)));
        using var response = await client.PostAsJsonAsync("/_api/v1/promotions", body, Json);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{(int)response.StatusCode}: {text}");
        var listed = await client.GetStringAsync("/_api/v1/promotions?cache=main");
        Assert.Equal("[]", listed.Trim());
        return text;
    }

    private PromotionRequestBody Body(string source, params string[] outputs) =>
        new("main", [], Policy, Revision: "0123abcd", Target: "flakehub://o/tool@1.0.0", FlakeSource: source, FlakeOutputs: outputs);

    [Fact]
    public async Task Sources_that_are_not_an_absolute_normalised_directory_holding_flake_nix_are_refused()
    {
        var flake = Path.Combine(_folder, "flake");
        Directory.CreateDirectory(flake);
        await File.WriteAllTextAsync(Path.Combine(flake, "flake.nix"), "{ outputs = { self }: { }; }\n");
        var empty = Path.Combine(_folder, "empty");
        Directory.CreateDirectory(empty);

        Assert.Contains("is not an absolute path", await RefusedAsync(Body("relative/flake", "packages.x86_64-linux.default")), StringComparison.Ordinal);
        Assert.Contains("is not a normalised path", await RefusedAsync(Body(empty + "/../flake", "packages.x86_64-linux.default")), StringComparison.Ordinal);
        Assert.Contains("is not a directory", await RefusedAsync(Body(Path.Combine(_folder, "absent"), "packages.x86_64-linux.default")), StringComparison.Ordinal);
        Assert.Contains("holds no flake.nix", await RefusedAsync(Body(empty, "packages.x86_64-linux.default")), StringComparison.Ordinal);
        Assert.Contains("1 to 64 flake outputs", await RefusedAsync(Body(flake)), StringComparison.Ordinal);
        foreach (var attribute in new[] { "packages.x86_64-linux.default^out", "a#b", "../x", "packages..x", "-x" })
        {
            Assert.Contains("is not an attribute path", await RefusedAsync(Body(flake, attribute)), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Flake_outputs_need_a_source_and_a_source_takes_no_store_paths()
    {
        var flake = Path.Combine(_folder, "flake");
        Directory.CreateDirectory(flake);
        await File.WriteAllTextAsync(Path.Combine(flake, "flake.nix"), "{ outputs = { self }: { }; }\n");

        Assert.Contains("need a flake source", await RefusedAsync(Body(flake, "packages.x86_64-linux.default") with { FlakeSource = null }), StringComparison.Ordinal);
        Assert.Contains("name no store paths", await RefusedAsync(Body(flake, "packages.x86_64-linux.default") with
        {
            StorePaths = ["/nix/store/0c0xkiqq2s2yvsbxy2pbb6kma8lmmsdd-hello-2.12"],
        }), StringComparison.Ordinal);
    }
}
