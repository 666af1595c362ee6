using Flywheel.Cache.Caches;
using Flywheel.Cache.Index;
using Flywheel.Cache.Index.Sqlite;
using Flywheel.Cache.Nix;
using Flywheel.Cache.Storage.Disk;
using Flywheel.Cache.Tests.Bazel;
using Flywheel.Cache.Tests.Infrastructure;
using Flywheel.Cache.Tokens;
using Flywheel.Cache.Upstream;
using Microsoft.Data.Sqlite;

namespace Flywheel.Cache.Tests.Caches;

/// <summary>
/// The lookups hot paths keep in memory for a while (caches, tokens, narinfo misses) are asked of the index once
/// when many requests find the entry expired together; each request still gets the answer, and one that gives up
/// does not cancel the others.
/// </summary>
public sealed class ConcurrentLookupTests : IAsyncLifetime
{
    private const int Callers = 50;

    private readonly string _root = Path.Combine(Path.GetTempPath(), "flywheel-lookups-" + Guid.NewGuid().ToString("N"));
    private readonly ManualTimeProvider _time = new(DateTimeOffset.UtcNow);
    private SqliteMetadataStore _sqlite = null!;
    private IMetadataIndex _index = null!;
    private CountingMetadataStore _calls = null!;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_root);
        _sqlite = new SqliteMetadataStore(Path.Combine(_root, "index.db"), _time);
        await _sqlite.MigrateAsync(CancellationToken.None);
        (_index, _calls) = CountingMetadataStore.Wrap(_sqlite);
    }

    public Task DisposeAsync()
    {
        _sqlite.Dispose();
        SqliteConnection.ClearAllPools();
        Directory.Delete(_root, recursive: true);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Callers_of_an_expired_cache_entry_share_one_index_query()
    {
        await new CacheCatalog(_sqlite, _time).CreateAsync("main", isPublic: true, priority: 40, CancellationToken.None);
        var catalog = new CacheCatalog(_index, _time);
        var gate = _calls.Hold(nameof(_index.GetCacheAsync));

        var lookups = Enumerable.Range(0, Callers).Select(_ => catalog.FindAsync("main", CancellationToken.None).AsTask()).ToList();
        gate.SetResult();
        var found = await Task.WhenAll(lookups);

        Assert.All(found, cache => Assert.Equal("main", cache?.Name));
        Assert.Equal(1, _calls.Count(nameof(_index.GetCacheAsync)));

        _time.Advance(CacheCatalog.LookupTtl + TimeSpan.FromSeconds(1));
        await Task.WhenAll(Enumerable.Range(0, Callers).Select(_ => catalog.FindAsync("main", CancellationToken.None).AsTask()));
        Assert.Equal(2, _calls.Count(nameof(_index.GetCacheAsync)));
    }

    [Fact]
    public async Task A_caller_that_gives_up_does_not_cancel_the_shared_query()
    {
        await new CacheCatalog(_sqlite, _time).CreateAsync("main", isPublic: true, priority: 40, CancellationToken.None);
        var catalog = new CacheCatalog(_index, _time);
        var gate = _calls.Hold(nameof(_index.GetCacheAsync));
        using var impatient = new CancellationTokenSource();

        var first = catalog.FindAsync("main", impatient.Token).AsTask();
        var second = catalog.FindAsync("main", CancellationToken.None).AsTask();
        await impatient.CancelAsync();
        gate.SetResult();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first);
        Assert.Equal("main", (await second)?.Name);
        Assert.Equal(1, _calls.Count(nameof(_index.GetCacheAsync)));
    }

    [Fact]
    public async Task Callers_presenting_one_token_share_one_index_query()
    {
        var (_, secret) = await new TokenService(_sqlite, _time).CreateAsync("main", TokenScopes.Pull, null, "test", CancellationToken.None);
        var tokens = new TokenService(_index, _time);
        var gate = _calls.Hold(nameof(_index.FindTokenAsync));

        var checks = Enumerable.Range(0, Callers).Select(_ => tokens.AuthenticateAsync(secret, CancellationToken.None).AsTask()).ToList();
        gate.SetResult();

        Assert.All(await Task.WhenAll(checks), token => Assert.Equal("main", token?.CachePattern));
        Assert.Equal(1, _calls.Count(nameof(_index.FindTokenAsync)));
        Assert.Null(await tokens.AuthenticateAsync(secret + "x", CancellationToken.None));
    }

    [Fact]
    public async Task Callers_asking_for_one_missing_narinfo_share_one_index_query()
    {
        var main = await new CacheCatalog(_sqlite, _time).CreateAsync("main", isPublic: true, priority: 40, CancellationToken.None);
        var memory = new NarInfoMemoryCache(1 << 20, TimeSpan.FromMinutes(5), TimeSpan.FromSeconds(2), _time);
        var nix = new NixBinaryCache(new DiskBlobStore(Path.Combine(_root, "blobs"), _time), _index, _index, memory, NixCacheLimits.Default, _time);
        const string hash = "0123456789abcdfghijklmnpqrsvwxyz";
        var gate = _calls.Hold(nameof(_index.GetNarInfoAsync));

        var reads = Enumerable.Range(0, Callers).Select(_ => nix.GetNarInfoAsync(main, hash, CancellationToken.None).AsTask()).ToList();
        gate.SetResult();

        Assert.All(await Task.WhenAll(reads), Assert.Null);
        Assert.Equal(1, _calls.Count(nameof(_index.GetNarInfoAsync)));
        Assert.Null(await nix.GetNarInfoAsync(main, hash, CancellationToken.None)); // remembered for the negative TTL
        Assert.Equal(1, _calls.Count(nameof(_index.GetNarInfoAsync)));
    }

    [Fact]
    public async Task Misses_asking_for_a_caches_upstreams_share_one_index_query()
    {
        var main = await new CacheCatalog(_sqlite, _time).CreateAsync("main", isPublic: true, priority: 40, CancellationToken.None);
        var upstreams = new UpstreamCatalog(_index, new UpstreamBreakers(UpstreamOptions.Default, _time), _time);
        var gate = _calls.Hold(nameof(_index.ListUpstreamsAsync));

        var lists = Enumerable.Range(0, Callers).Select(_ => upstreams.GetAsync(main, CancellationToken.None).AsTask()).ToList();
        gate.SetResult();

        Assert.All(await Task.WhenAll(lists), Assert.Empty);
        Assert.Equal(1, _calls.Count(nameof(_index.ListUpstreamsAsync)));
    }
}
