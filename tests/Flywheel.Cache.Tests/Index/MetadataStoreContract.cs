using System.Diagnostics;
using System.Text;
using Flywheel.Cache.Index;
using Flywheel.Cache.Storage;
using Flywheel.Cache.Tests.Infrastructure;

namespace Flywheel.Cache.Tests.Index;

/// <summary>
/// What every <see cref="IMetadataIndex"/> must do. Each implementation subclasses this; xunit makes one instance
/// per test, and <see cref="CreateStore"/> gives stores on empty databases that belong to that test: every store
/// created with the same database key is another client of one database, as another gateway process would be.
/// </summary>
public abstract partial class MetadataStoreContract : IAsyncLifetime
{
    private readonly List<IMetadataIndex> _stores = [];
    private IMetadataIndex? _store;

    protected ManualTimeProvider Time { get; } = new();

    protected static CancellationToken None => CancellationToken.None;

    /// <summary>
    /// A new, unmigrated store on this test's database named <paramref name="database"/>: the same key gives
    /// the same database, each key starts empty.
    /// </summary>
    protected abstract IMetadataIndex CreateStore(TimeProvider time, string database);

    /// <summary>Removes this test's databases (after every store it made was disposed).</summary>
    protected virtual Task CleanupAsync() => Task.CompletedTask;

    /// <summary>The migrated store most tests use.</summary>
    protected IMetadataIndex Store => _store ?? throw new InvalidOperationException("not initialized");

    protected IMetadataIndex NewStore(string database = "main")
    {
        var store = CreateStore(Time, database);
        _stores.Add(store);
        return store;
    }

    public virtual async Task InitializeAsync()
    {
        _store = NewStore();
        await _store.MigrateAsync(None);
    }

    public async Task DisposeAsync()
    {
        foreach (var store in _stores)
        {
            switch (store)
            {
                case IAsyncDisposable a:
                    await a.DisposeAsync();
                    break;
                case IDisposable d:
                    d.Dispose();
                    break;
            }
        }

        await CleanupAsync();
    }

    protected static BlobDigest Digest(string seed) => BlobDigest.Compute(Encoding.UTF8.GetBytes(seed));

    protected static BlobDigest Digest(int seed)
    {
        Span<byte> bytes = stackalloc byte[4];
        BitConverter.TryWriteBytes(bytes, seed);
        return BlobDigest.Compute(bytes);
    }

    protected static CacheRecord NewCache(string name, bool isPublic = true, int priority = 40, TimeSpan? retention = null) => new(
        Id: 0,
        Name: name,
        IsPublic: isPublic,
        Priority: priority,
        StoreDir: "/nix/store",
        SigningSecretKey: $"{name}-1:c2VjcmV0",
        PublicKey: $"{name}-1:cHVibGlj",
        Retention: retention,
        CreatedAt: default);

    protected static string StorePathHash(int i) => $"{i:D8}" + "abcdfghijklmnpqrsvwxyz00";

    protected NarInfoRecord NewNarInfo(int i, string? text = null) => new(
        StorePathHash: StorePathHash(i),
        StorePath: $"/nix/store/{StorePathHash(i)}-hello-{i}",
        FileHash: Digest($"nar {i}"),
        FileSize: 1000 + i,
        NarHash: $"sha256:{i:D52}",
        NarSize: 5000 + i,
        References: $"{StorePathHash(i)}-hello-{i} {StorePathHash(i + 1)}-glibc",
        Deriver: i % 2 == 0 ? $"{StorePathHash(i + 2)}-hello-{i}.drv" : null,
        Text: Encoding.UTF8.GetBytes(text ?? $"StorePath: /nix/store/{StorePathHash(i)}-hello-{i}\n"),
        CreatedAt: Time.GetUtcNow(),
        LastAccess: Time.GetUtcNow());

    protected async Task<long> CreateCacheIdAsync(string name = "main") => (await Store.CreateCacheAsync(NewCache(name), None)).Id;

    // ---------------------------------------------------------------- migrations and health

    [Fact]
    public async Task Maintenance_lock_has_one_holder_at_a_time()
    {
        var first = await Store.TryAcquireMaintenanceLockAsync(None);
        Assert.NotNull(first);
        Assert.Null(await NewStore().TryAcquireMaintenanceLockAsync(None)); // another gateway on the same index
        Assert.Null(await Store.TryAcquireMaintenanceLockAsync(None));

        await first.DisposeAsync();
        var again = await NewStore().TryAcquireMaintenanceLockAsync(None);
        Assert.NotNull(again);
        await again.DisposeAsync();
    }

    [Fact]
    public async Task Migrating_again_changes_nothing()
    {
        var id = await CreateCacheIdAsync();

        await Store.MigrateAsync(None);
        await NewStore().MigrateAsync(None);

        Assert.Equal(id, (await Store.GetCacheAsync("main", None))!.Id);
    }

    [Fact]
    public async Task Several_stores_migrating_one_fresh_database_at_once_all_succeed()
    {
        var stores = Enumerable.Range(0, 4).Select(_ => NewStore("fresh")).ToList();

        await Task.WhenAll(stores.Select(s => Task.Run(() => s.MigrateAsync(None))));

        await stores[0].CreateCacheAsync(NewCache("after"), None);
        Assert.NotNull(await stores[3].GetCacheAsync("after", None));
    }

    [Fact]
    public async Task A_migrated_store_is_healthy()
    {
        await Store.CheckHealthAsync(None);
    }

    // ---------------------------------------------------------------- settings

    [Fact]
    public async Task Settings_are_added_once_and_read_back()
    {
        Assert.Null(await Store.GetSettingAsync("bootstrap", None));

        Assert.True(await Store.TryAddSettingAsync("bootstrap", "done", None));
        Assert.False(await Store.TryAddSettingAsync("bootstrap", "again", None));

        Assert.Equal("done", await Store.GetSettingAsync("bootstrap", None));
    }

    [Fact]
    public async Task Of_many_concurrent_adds_of_one_setting_exactly_one_wins()
    {
        var stores = new[] { Store, NewStore(), NewStore() };

        var results = await Task.WhenAll(Enumerable.Range(0, 48).Select(i =>
            Task.Run(() => stores[i % stores.Length].TryAddSettingAsync("leader", $"candidate-{i}", None))));

        Assert.Single(results, r => r);
        var winner = Array.IndexOf(results, true);
        Assert.Equal($"candidate-{winner}", await Store.GetSettingAsync("leader", None));
    }

    // ---------------------------------------------------------------- caches

    [Fact]
    public async Task Created_cache_gets_an_id_and_the_creation_time()
    {
        var created = await Store.CreateCacheAsync(NewCache("main", isPublic: false, priority: 30, retention: TimeSpan.FromDays(14)) with
        {
            Id = 12345,
            CreatedAt = DateTimeOffset.UnixEpoch,
        }, None);

        Assert.NotEqual(12345, created.Id);
        Assert.Equal(Time.GetUtcNow(), created.CreatedAt);
        Assert.Equal(NewCache("main", false, 30, TimeSpan.FromDays(14)) with { Id = created.Id, CreatedAt = Time.GetUtcNow() }, created);
        Assert.Equal(created, await Store.GetCacheAsync("main", None));
    }

    [Fact]
    public async Task Cache_without_retention_reads_back_null()
    {
        await Store.CreateCacheAsync(NewCache("keep"), None);

        Assert.Null((await Store.GetCacheAsync("keep", None))!.Retention);
    }

    [Fact]
    public async Task Creating_a_taken_cache_name_is_a_conflict()
    {
        await Store.CreateCacheAsync(NewCache("main"), None);

        var e = await Assert.ThrowsAsync<CacheException>(() => NewStore().CreateCacheAsync(NewCache("main", priority: 1), None));

        Assert.Equal(CacheError.Conflict, e.Error);
        Assert.Equal(40, (await Store.GetCacheAsync("main", None))!.Priority);
    }

    [Fact]
    public async Task Unknown_cache_is_null()
    {
        Assert.Null(await Store.GetCacheAsync("nope", None));
    }

    [Fact]
    public async Task Caches_are_listed_by_name_with_distinct_ids()
    {
        foreach (var name in new[] { "team-b", "main", "team-a" })
        {
            Time.Advance(TimeSpan.FromSeconds(1));
            await Store.CreateCacheAsync(NewCache(name), None);
        }

        var caches = await Store.ListCachesAsync(None);

        Assert.Equal(["main", "team-a", "team-b"], caches.Select(c => c.Name));
        Assert.Equal(3, caches.Select(c => c.Id).Distinct().Count());
    }

    [Fact]
    public async Task Update_changes_visibility_priority_and_retention_only()
    {
        var created = await Store.CreateCacheAsync(NewCache("main"), None);
        Time.Advance(TimeSpan.FromHours(1));

        var updated = await Store.UpdateCacheAsync(created with
        {
            IsPublic = false,
            Priority = 10,
            Retention = TimeSpan.FromDays(30),
            StoreDir = "/other/store",
            PublicKey = "changed:x",
        }, None);

        var expected = created with { IsPublic = false, Priority = 10, Retention = TimeSpan.FromDays(30) };
        Assert.Equal(expected, updated);
        Assert.Equal(expected, await Store.GetCacheAsync("main", None));
    }

    [Fact]
    public async Task Update_can_clear_retention()
    {
        var created = await Store.CreateCacheAsync(NewCache("main", retention: TimeSpan.FromDays(1)), None);

        var updated = await Store.UpdateCacheAsync(created with { Retention = null }, None);

        Assert.Null(updated.Retention);
        Assert.Null((await Store.GetCacheAsync("main", None))!.Retention);
    }

    [Fact]
    public async Task Updating_an_unknown_cache_is_not_found()
    {
        var e = await Assert.ThrowsAsync<CacheException>(() => Store.UpdateCacheAsync(NewCache("ghost"), None));

        Assert.Equal(CacheError.NotFound, e.Error);
    }

    // ---------------------------------------------------------------- tokens

    private TokenRecord NewToken(string id, string secret, TokenScopes scopes = TokenScopes.Pull | TokenScopes.Push) => new(
        Id: id,
        SecretHash: Digest(secret),
        CachePattern: "team-*",
        Scopes: scopes,
        Description: $"token {id}",
        CreatedAt: Time.GetUtcNow(),
        ExpiresAt: Time.GetUtcNow().AddDays(90),
        RevokedAt: null);

    [Fact]
    public async Task Token_is_found_by_the_hash_of_its_secret()
    {
        var token = NewToken("t1", "secret-1", TokenScopes.Pull | TokenScopes.Admin | TokenScopes.Promote);
        await Store.CreateTokenAsync(token, None);

        Assert.Equal(token, await Store.FindTokenAsync(Digest("secret-1"), None));
        Assert.Null(await Store.FindTokenAsync(Digest("secret-2"), None));
    }

    [Fact]
    public async Task Token_without_description_or_expiry_round_trips()
    {
        var token = NewToken("t1", "s") with { Description = null, ExpiresAt = null };
        await Store.CreateTokenAsync(token, None);

        Assert.Equal(token, await Store.FindTokenAsync(Digest("s"), None));
    }

    [Fact]
    public async Task Duplicate_token_id_or_secret_is_a_conflict()
    {
        await Store.CreateTokenAsync(NewToken("t1", "s1"), None);

        var sameId = await Assert.ThrowsAsync<CacheException>(() => Store.CreateTokenAsync(NewToken("t1", "s2"), None));
        var sameSecret = await Assert.ThrowsAsync<CacheException>(() => Store.CreateTokenAsync(NewToken("t2", "s1"), None));

        Assert.Equal(CacheError.Conflict, sameId.Error);
        Assert.Equal(CacheError.Conflict, sameSecret.Error);
        Assert.Single(await Store.ListTokensAsync(None));
    }

    [Fact]
    public async Task Tokens_are_listed_oldest_first()
    {
        await Store.CreateTokenAsync(NewToken("b", "s1"), None);
        Time.Advance(TimeSpan.FromMinutes(1));
        await Store.CreateTokenAsync(NewToken("a", "s2"), None);

        Assert.Equal(["b", "a"], (await Store.ListTokensAsync(None)).Select(t => t.Id));
    }

    [Fact]
    public async Task Revoking_marks_the_token_and_keeps_the_first_revocation_time()
    {
        await Store.CreateTokenAsync(NewToken("t1", "s1"), None);
        var first = Time.GetUtcNow().AddMinutes(5);

        Assert.True(await Store.RevokeTokenAsync("t1", first, None));
        Assert.True(await Store.RevokeTokenAsync("t1", first.AddDays(1), None));
        Assert.False(await Store.RevokeTokenAsync("ghost", first, None));

        Assert.Equal(first, (await Store.FindTokenAsync(Digest("s1"), None))!.RevokedAt);
        Assert.Equal(first, (await Store.ListTokensAsync(None)).Single().RevokedAt);
    }

    // ---------------------------------------------------------------- narinfos

    [Fact]
    public async Task Narinfo_round_trips()
    {
        var cache = await CreateCacheIdAsync();
        var narInfo = NewNarInfo(1);

        await Store.PutNarInfoAsync(cache, narInfo, None);

        var read = await Store.GetNarInfoAsync(cache, narInfo.StorePathHash, None);
        Assert.NotNull(read);
        Assert.Equal(narInfo.Text, read.Text);
        Assert.Equal(narInfo with { Text = read.Text }, read);
    }

    [Fact]
    public async Task Narinfo_without_deriver_round_trips()
    {
        var cache = await CreateCacheIdAsync();
        var narInfo = NewNarInfo(3);
        Assert.Null(narInfo.Deriver);

        await Store.PutNarInfoAsync(cache, narInfo, None);

        Assert.Null((await Store.GetNarInfoAsync(cache, narInfo.StorePathHash, None))!.Deriver);
    }

    [Fact]
    public async Task Putting_a_narinfo_again_replaces_it()
    {
        var cache = await CreateCacheIdAsync();
        await Store.PutNarInfoAsync(cache, NewNarInfo(1, "old"), None);
        Time.Advance(TimeSpan.FromMinutes(1));
        var replacement = NewNarInfo(1, "new") with { FileHash = Digest("other nar"), NarSize = 1, Deriver = null };

        await Store.PutNarInfoAsync(cache, replacement, None);

        var read = (await Store.GetNarInfoAsync(cache, replacement.StorePathHash, None))!;
        Assert.Equal("new"u8.ToArray(), read.Text);
        Assert.Equal(replacement with { Text = read.Text }, read);
    }

    [Fact]
    public async Task Narinfos_belong_to_their_cache()
    {
        var main = await CreateCacheIdAsync("main");
        var other = await CreateCacheIdAsync("other");

        await Store.PutNarInfoAsync(main, NewNarInfo(1), None);

        Assert.Null(await Store.GetNarInfoAsync(other, StorePathHash(1), None));
        Assert.Empty(await Store.FindNarInfosAsync(other, [StorePathHash(1)], None));
        Assert.Null(await Store.GetNarInfoAsync(main, StorePathHash(2), None));
    }

    [Fact]
    public async Task Narinfo_for_an_unknown_cache_is_not_found()
    {
        var e = await Assert.ThrowsAsync<CacheException>(() => Store.PutNarInfoAsync(987_654, NewNarInfo(1), None));

        Assert.Equal(CacheError.NotFound, e.Error);
    }

    [Fact]
    public async Task Find_narinfos_answers_a_large_batch_in_one_go()
    {
        var cache = await CreateCacheIdAsync();
        for (var i = 0; i < 300; i += 3)
        {
            await Store.PutNarInfoAsync(cache, NewNarInfo(i), None);
        }

        var asked = Enumerable.Range(0, 3000).Select(StorePathHash).Append("with \"quotes\" and \\ and ü").ToList();
        var found = await Store.FindNarInfosAsync(cache, asked, None);

        Assert.Equal(Enumerable.Range(0, 100).Select(i => StorePathHash(i * 3)).ToHashSet(), found.ToHashSet());
        Assert.Empty(await Store.FindNarInfosAsync(cache, [], None));
    }

    [Fact]
    public async Task Touching_narinfos_moves_their_last_access_forward_only()
    {
        var cache = await CreateCacheIdAsync();
        var created = Time.GetUtcNow();
        await Store.PutNarInfoAsync(cache, NewNarInfo(1), None);
        await Store.PutNarInfoAsync(cache, NewNarInfo(2), None);
        var later = created.AddHours(3);

        await Store.TouchNarInfosAsync(cache, [StorePathHash(1), StorePathHash(99)], later, None);
        await Store.TouchNarInfosAsync(cache, [StorePathHash(1)], created.AddHours(1), None);
        await Store.TouchNarInfosAsync(cache, [], later, None);

        var touched = (await Store.GetNarInfoAsync(cache, StorePathHash(1), None))!;
        Assert.Equal(later, touched.LastAccess);
        Assert.Equal(created, touched.CreatedAt);
        Assert.Equal(created, (await Store.GetNarInfoAsync(cache, StorePathHash(2), None))!.LastAccess);
        Assert.Null(await Store.GetNarInfoAsync(cache, StorePathHash(99), None));
    }

    [Fact]
    public async Task Touching_narinfos_of_another_cache_changes_nothing()
    {
        var main = await CreateCacheIdAsync("main");
        var other = await CreateCacheIdAsync("other");
        await Store.PutNarInfoAsync(main, NewNarInfo(1), None);

        await Store.TouchNarInfosAsync(other, [StorePathHash(1)], Time.GetUtcNow().AddDays(1), None);

        Assert.Equal(Time.GetUtcNow(), (await Store.GetNarInfoAsync(main, StorePathHash(1), None))!.LastAccess);
    }

    // ---------------------------------------------------------------- NAR files

    [Fact]
    public async Task Nar_file_round_trips_and_the_first_record_is_kept()
    {
        var cache = await CreateCacheIdAsync();
        var nar = new NarFileRecord(Digest("nar"), "zstd", 1234, "sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s", 5678, Time.GetUtcNow());

        await Store.PutNarFileAsync(cache, nar, None);
        await Store.PutNarFileAsync(cache, nar with { Compression = "xz", FileSize = 1, CreatedAt = nar.CreatedAt.AddDays(1) }, None);

        Assert.Equal(nar, await Store.GetNarFileAsync(cache, nar.FileHash, None));
        Assert.Null(await Store.GetNarFileAsync(cache, Digest("other"), None));
        Assert.Null(await Store.GetNarFileAsync(await CreateCacheIdAsync("other"), nar.FileHash, None));
    }

    [Fact]
    public async Task Narinfo_upload_basis_is_the_nar_file_and_the_earlier_narinfo_of_the_cache_in_one_query()
    {
        var cache = await CreateCacheIdAsync();
        var other = await CreateCacheIdAsync("other");
        var info = NewNarInfo(3, "StorePath: earlier\n");
        var nar = new NarFileRecord(info.FileHash, "zstd", info.FileSize, info.NarHash, info.NarSize, Time.GetUtcNow());

        Assert.Null(await Store.GetNarInfoUploadBasisAsync(cache, nar.FileHash, info.StorePathHash, None));
        await Store.PutNarFileAsync(cache, nar, None);
        Assert.Equal(nar, (await Store.GetNarInfoUploadBasisAsync(cache, nar.FileHash, info.StorePathHash, None))!.Nar);
        Assert.Null((await Store.GetNarInfoUploadBasisAsync(cache, nar.FileHash, info.StorePathHash, None))!.EarlierText);

        await Store.PutNarInfoAsync(cache, info, None);
        await Store.PutNarInfoAsync(other, NewNarInfo(3, "StorePath: the other cache's\n"), None);
        var basis = await Store.GetNarInfoUploadBasisAsync(cache, nar.FileHash, info.StorePathHash, None);
        Assert.Equal(nar, basis!.Nar);
        Assert.Equal(info.Text, basis.EarlierText);
        Assert.Null((await Store.GetNarInfoUploadBasisAsync(cache, nar.FileHash, StorePathHash(4), None))!.EarlierText);
        Assert.Null(await Store.GetNarInfoUploadBasisAsync(other, nar.FileHash, info.StorePathHash, None)); // its narinfo, not its NAR
    }

    // ---------------------------------------------------------------- cache files

    [Fact]
    public async Task Cache_file_round_trips_and_is_replaced_by_a_later_put()
    {
        var cache = await CreateCacheIdAsync();
        var log = new CacheFileRecord("log/abc-hello.drv", Digest("log v1"), 42, "text/plain; charset=utf-8", "br", Time.GetUtcNow());

        await Store.PutCacheFileAsync(cache, log, None);
        Assert.Equal(log, await Store.GetCacheFileAsync(cache, log.Path, None));

        Time.Advance(TimeSpan.FromMinutes(1));
        var replaced = log with { Blob = Digest("log v2"), Size = 43, ContentEncoding = null, CreatedAt = Time.GetUtcNow() };
        await Store.PutCacheFileAsync(cache, replaced, None);

        Assert.Equal(replaced, await Store.GetCacheFileAsync(cache, log.Path, None));
        Assert.Null(await Store.GetCacheFileAsync(cache, "log/other.drv", None));
        Assert.Null(await Store.GetCacheFileAsync(await CreateCacheIdAsync("other"), log.Path, None));
    }

    // ---------------------------------------------------------------- blobs

    [Fact]
    public async Task Recorded_blobs_are_not_missing()
    {
        await Store.RecordBlobAsync(Digest("a"), 10, Time.GetUtcNow(), None);
        await Store.RecordBlobAsync(Digest("a"), 10, Time.GetUtcNow().AddMinutes(1), None);

        var missing = await Store.FindMissingBlobsAsync([Digest("a"), Digest("b"), Digest("c"), Digest("b")], None);

        Assert.Equal([Digest("b"), Digest("c")], missing);
    }

    [Fact]
    public async Task Empty_blob_and_empty_batches_are_never_missing()
    {
        Assert.Empty(await Store.FindMissingBlobsAsync([BlobDigest.Empty], None));
        Assert.Empty(await Store.FindMissingBlobsAsync([], None));
    }

    [Fact]
    public async Task Find_missing_blobs_handles_ten_thousand_digests_quickly()
    {
        var all = Enumerable.Range(0, 10_000).Select(Digest).ToList();
        for (var i = 0; i < all.Count; i += 7)
        {
            await Store.RecordBlobAsync(all[i], i, Time.GetUtcNow(), None);
        }

        var clock = Stopwatch.StartNew();
        var missing = await Store.FindMissingBlobsAsync(all, None);
        clock.Stop();

        Assert.Equal(all.Where((_, i) => i % 7 != 0).ToHashSet(), missing.ToHashSet());
        Assert.Equal(missing.Count, missing.Distinct().Count());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"10,000 digests took {clock.Elapsed}");
    }

    [Fact]
    public async Task Touching_a_caches_blobs_is_batched_and_does_not_record_unknown_ones()
    {
        var cache = await CreateCacheIdAsync();
        var known = Enumerable.Range(0, 2000).Select(Digest).ToList();
        foreach (var digest in known.Take(1000))
        {
            await Store.RecordBlobAsync(digest, 3, Time.GetUtcNow(), None);
        }

        await Store.AddCacheBlobsAsync(cache, known, Time.GetUtcNow().AddDays(1), None);
        await Store.AddCacheBlobsAsync(cache, [], Time.GetUtcNow(), None);

        Assert.Equal(known.Skip(1000).ToHashSet(), (await Store.FindMissingBlobsAsync(known, None)).ToHashSet());
        var usage = await Store.GetCacheUsageAsync(cache, None);
        Assert.Equal((1000L, 3000L), (usage.Blobs, usage.BlobBytes));
    }

    // ---------------------------------------------------------------- blobs with sizes

    [Fact]
    public async Task Sized_lookup_reports_unknown_blobs_and_blobs_recorded_with_another_size()
    {
        var cache = await CreateCacheIdAsync();
        await OwnAsync(cache, Digest("a"), 10);
        await OwnAsync(cache, Digest("b"), 20);

        var missing = await Store.FindMissingSizedBlobsAsync(
            cache,
            [new(Digest("a"), 10), new(Digest("b"), 21), new(Digest("c"), 0), new(Digest("a"), 10), new(Digest("c"), 0), new(Digest("a"), 11)], None);

        Assert.Equal([1, 2, 5], missing);
    }

    [Fact]
    public async Task Sized_lookup_reports_each_size_of_one_digest_once_at_its_first_position()
    {
        var cache = await CreateCacheIdAsync();
        await OwnAsync(cache, Digest("a"), 12);

        var missing = await Store.FindMissingSizedBlobsAsync(
            cache,
            [new(Digest("a"), 10), new(Digest("a"), 11), new(Digest("a"), 11), new(Digest("a"), 12), new(Digest("a"), 10), new(Digest("b"), 11)], None);

        Assert.Equal([0, 1, 5], missing);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Store.FindMissingSizedBlobsAsync(cache, [new(Digest("a"), -1)], None));
    }

    [Fact]
    public async Task Sized_lookup_of_thousands_of_digests_with_repeats_agrees_with_a_plain_count()
    {
        var cache = await CreateCacheIdAsync();
        var digests = Enumerable.Range(0, 3000).Select(i => Digest("many-" + i)).ToArray();
        for (var i = 0; i < digests.Length; i += 2)
        {
            await OwnAsync(cache, digests[i], i);
        }

        // Each digest asked at its size, then again at the same size and (every third) at another size.
        var asked = digests.Select((d, i) => new SizedBlob(d, i))
            .Concat(digests.Select((d, i) => new SizedBlob(d, i % 3 == 0 ? i + 1 : i)))
            .ToArray();
        var expected = new List<int>();
        var seen = new HashSet<SizedBlob>();
        for (var p = 0; p < asked.Length; p++)
        {
            var index = Array.IndexOf(digests, asked[p].Digest);
            var stored = index % 2 == 0 && asked[p].Size == index;
            if (seen.Add(asked[p]) && !stored)
            {
                expected.Add(p);
            }
        }

        Assert.Equal(expected, await Store.FindMissingSizedBlobsAsync(cache, asked, None));
    }

    [Fact]
    public async Task Sized_lookup_never_misses_the_empty_blob_at_size_zero()
    {
        var cache = await CreateCacheIdAsync();
        Assert.Empty(await Store.FindMissingSizedBlobsAsync(cache, [new(BlobDigest.Empty, 0)], None));
        Assert.Empty(await Store.FindMissingSizedBlobsAsync(cache, [], None));
        Assert.Equal([0], await Store.FindMissingSizedBlobsAsync(cache, [new(BlobDigest.Empty, 1)], None));
    }

    [Fact]
    public async Task Sized_lookup_answers_ten_thousand_blobs_with_large_sizes()
    {
        var cache = await CreateCacheIdAsync();
        var all = Enumerable.Range(0, 10_000).Select(i => new SizedBlob(Digest(i), i * 1_000_003L)).ToList();
        for (var i = 0; i < all.Count; i += 5)
        {
            await OwnAsync(cache, all[i].Digest, all[i].Size);
        }

        var missing = await Store.FindMissingSizedBlobsAsync(cache, all, None);

        Assert.Equal(Enumerable.Range(0, 10_000).Where(i => i % 5 != 0), missing);
    }

    // ---------------------------------------------------------------- action cache

    [Fact]
    public async Task Action_result_round_trips_and_is_replaced_by_a_later_put()
    {
        var cache = await CreateCacheIdAsync();
        var action = Digest("action");

        Assert.Null(await Store.GetActionResultAsync(cache, action, None));
        await Store.PutActionResultAsync(cache, action, new byte[] { 1, 2, 3 }, Time.GetUtcNow(), None);
        Assert.Equal(new byte[] { 1, 2, 3 }, await Store.GetActionResultAsync(cache, action, None));

        Time.Advance(TimeSpan.FromMinutes(1));
        await NewStore().PutActionResultAsync(cache, action, new byte[] { 9 }, Time.GetUtcNow(), None);

        Assert.Equal(new byte[] { 9 }, await Store.GetActionResultAsync(cache, action, None));
    }

    [Fact]
    public async Task Empty_action_result_bytes_round_trip()
    {
        var cache = await CreateCacheIdAsync();

        await Store.PutActionResultAsync(cache, Digest("action"), ReadOnlyMemory<byte>.Empty, Time.GetUtcNow(), None);

        var read = await Store.GetActionResultAsync(cache, Digest("action"), None);
        Assert.NotNull(read);
        Assert.Empty(read);
    }

    [Fact]
    public async Task Action_results_belong_to_their_cache()
    {
        var main = await CreateCacheIdAsync("main");
        var other = await CreateCacheIdAsync("other");

        await Store.PutActionResultAsync(main, Digest("action"), new byte[] { 1 }, Time.GetUtcNow(), None);

        Assert.Null(await Store.GetActionResultAsync(other, Digest("action"), None));
        Assert.Null(await Store.GetActionResultAsync(main, Digest("other action"), None));
    }

    [Fact]
    public async Task Action_result_for_an_unknown_cache_is_not_found()
    {
        var e = await Assert.ThrowsAsync<CacheException>(() =>
            Store.PutActionResultAsync(987_654, Digest("action"), new byte[] { 1 }, Time.GetUtcNow(), None));

        Assert.Equal(CacheError.NotFound, e.Error);
    }

    [Fact]
    public async Task Concurrent_writers_from_several_stores_do_not_fail()
    {
        var cache = await CreateCacheIdAsync();
        var stores = new[] { Store, NewStore(), NewStore() };

        await Task.WhenAll(Enumerable.Range(0, 200).Select(i => Task.Run(async () =>
        {
            var store = stores[i % stores.Length];
            await store.PutNarInfoAsync(cache, NewNarInfo(i), None);
            await store.RecordBlobAsync(Digest(i), i, Time.GetUtcNow(), None);
            await store.TouchNarInfosAsync(cache, [StorePathHash(i)], Time.GetUtcNow().AddSeconds(i), None);
            await store.AddCacheBlobsAsync(cache, [Digest(i)], Time.GetUtcNow().AddSeconds(i), None);
            Assert.NotNull(await store.GetNarInfoAsync(cache, StorePathHash(i), None));
        })));

        Assert.Equal(200, (await Store.FindNarInfosAsync(cache, Enumerable.Range(0, 200).Select(StorePathHash).ToList(), None)).Count);
        Assert.Empty(await Store.FindMissingBlobsAsync(Enumerable.Range(0, 200).Select(Digest).ToList(), None));
    }
}
