using System.Text;
using Flywheel.Cache.Caches;
using Flywheel.Cache.Index;
using Flywheel.Cache.Index.Sqlite;
using Flywheel.Cache.Nix;
using Flywheel.Cache.Promotion;
using Flywheel.Cache.Promotion.Rules;
using Flywheel.Cache.Storage.Disk;
using Flywheel.Cache.Tests.Infrastructure;
using Flywheel.Cache.Tests.Server;

namespace Flywheel.Cache.Tests.Nix;

/// <summary>
/// Uploading a narinfo the cache already has: the same signed content keeps the earlier uploaders' signatures next
/// to the new ones (so "two trusted builders agree" is evidence that survives two uploads); different content
/// replaces the narinfo and the signatures that signed the old content.
/// </summary>
public sealed class NarInfoSignatureMergeTests : IDisposable, IAsyncLifetime
{
    private static readonly NixSigningKey Builder1 = NixSigningKey.Generate("builder-1");
    private static readonly NixSigningKey Builder2 = NixSigningKey.Generate("builder-2");
    private readonly string _folder = Directory.CreateTempSubdirectory("flywheel-sigmerge-").FullName;
    private readonly ManualTimeProvider _time = new();
    private readonly SqliteMetadataStore _index;
    private NixBinaryCache _nix = null!;
    private CacheContext _cache = null!;

    public NarInfoSignatureMergeTests()
    {
        _index = new SqliteMetadataStore(Path.Combine(_folder, "index.sqlite"), _time);
    }

    public async Task InitializeAsync()
    {
        await _index.MigrateAsync(CancellationToken.None);
        _cache = await new CacheCatalog(_index, _time).CreateAsync("main", isPublic: true, priority: 40, CancellationToken.None);
        _nix = new NixBinaryCache(new DiskBlobStore(Path.Combine(_folder, "blobs"), _time), _index, _index,
            new NarInfoMemoryCache(1 << 20, TimeSpan.FromMinutes(5), TimeSpan.Zero, _time), NixCacheLimits.Default, _time, new AccessTracker(_index, _index, _index, _time));
    }

    public Task DisposeAsync() => Task.CompletedTask;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    /// <summary>The upload's narinfo as <paramref name="signer"/> would send it (its signature added).</summary>
    internal static string SignedBy(NarUpload upload, NixSigningKey signer)
    {
        var info = NarInfo.Parse(upload.NarInfo);
        info.Sign(signer);
        return info.Render();
    }

    private async Task<NarInfo> PutAsync(NarUpload upload, NixSigningKey signer)
    {
        await _nix.PutNarAsync(_cache, upload.NarFileName, new MemoryStream(upload.Nar), upload.Nar.Length, CancellationToken.None);
        await _nix.PutNarInfoAsync(_cache, upload.StorePathHash, Encoding.UTF8.GetBytes(SignedBy(upload, signer)), CancellationToken.None);
        var served = await _nix.GetNarInfoAsync(_cache, upload.StorePathHash, CancellationToken.None);
        return NarInfo.Parse(Encoding.UTF8.GetString(served!));
    }

    [Fact]
    public async Task Two_builders_uploading_the_same_output_both_stay_signed_and_agree_for_the_reproducible_rule()
    {
        var upload = NarUpload.Create("hello-2.12", "same output");
        await PutAsync(upload, Builder1);
        var merged = await PutAsync(upload, Builder2);

        Assert.Equal(["builder-1", "builder-2", _cache.SigningKey.Name], merged.Sigs.Select(s => s[..s.IndexOf(':')]).Order(StringComparer.Ordinal));
        Assert.True(merged.IsSignedByAny([Builder1.PublicKey]));
        Assert.True(merged.IsSignedByAny([Builder2.PublicKey]));
        Assert.True(merged.IsSignedByAny([_cache.SigningKey.PublicKey]));

        var policy = new PromotionPolicy([Builder1.PublicKey, Builder2.PublicKey], false, ["hello-*"],
            new Dictionary<PromotionClass, IReadOnlyList<string>>(), new Dictionary<PromotionClass, string>());
        var request = new PromotionRequest("main", [upload.StorePath], null, null, null, null, false, "{}", []);
        var outcome = new ReproducibleRule().Evaluate(new PromotionEvidence(request, policy, _cache.SigningKey.PublicKey, [new PathEvidence(merged.StorePath, merged, [])]));
        Assert.True(outcome.Passed, outcome.Reason);

        var again = await PutAsync(upload, Builder1); // the same builder again: one signature per key
        Assert.Equal(3, again.Sigs.Count);
    }

    [Fact]
    public async Task A_different_nar_hash_replaces_the_narinfo_and_the_signatures_of_the_old_content()
    {
        var first = NarUpload.Create("hello-2.12", "first build");
        await PutAsync(first, Builder1);
        var second = NarUpload.FromNar("hello-2.12", NarBuilder.RegularFile("a different build"), null) with { StorePathHash = first.StorePathHash, StorePath = first.StorePath };
        second = second with { NarInfo = second.NarInfo.Replace(second.NarInfo.Split('\n')[0], "StorePath: " + first.StorePath, StringComparison.Ordinal) };

        var replaced = await PutAsync(second, Builder2);

        Assert.NotEqual(NarInfo.Parse(first.NarInfo).NarHash, replaced.NarHash);
        Assert.False(replaced.IsSignedByAny([Builder1.PublicKey]));
        Assert.True(replaced.IsSignedByAny([Builder2.PublicKey]));
        Assert.Equal(2, replaced.Sigs.Count);
    }
}
