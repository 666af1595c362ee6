using System.Buffers;
using Flywheel.Cache.Caches;
using Flywheel.Cache.Compression;
using Flywheel.Cache.Index;
using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Nix;

/// <summary>What a NAR file must turn out to be, when a signed narinfo said so before its bytes arrived.</summary>
public readonly record struct NarExpectation(long FileSize, NixHash NarHash, long NarSize);

/// <summary>
/// The Nix binary cache protocol's operations on the storage core, free of HTTP: the front door parses
/// requests and checks tokens, this class validates, verifies and stores.
/// NAR uploads are hashed and decompressed as they stream in, so a narinfo is accepted only when it
/// matches the bytes actually stored (FileHash, FileSize, NarHash, NarSize).
/// </summary>
public sealed class NixBinaryCache
{
    private const int ChunkSize = 128 * 1024;

    private readonly IBlobStore _blobs;
    private readonly INarInfoStore _narInfos;
    private readonly IBlobIndex _blobIndex;
    private readonly NarInfoMemoryCache _memory;
    private readonly TimeProvider _time;
    private readonly AccessTracker? _access;
    private readonly Coalescer<(long CacheId, string Hash), byte[]?> _narInfoLoads = new();

    /// <param name="access">Records reads for last-access times (retention); null records nothing.</param>
    public NixBinaryCache(
        IBlobStore blobs, INarInfoStore narInfos, IBlobIndex blobIndex, NarInfoMemoryCache memory, NixCacheLimits limits, TimeProvider time, AccessTracker? access = null)
    {
        _blobs = blobs;
        _narInfos = narInfos;
        _blobIndex = blobIndex;
        _memory = memory;
        Limits = limits;
        _time = time;
        _access = access;
    }

    public NixCacheLimits Limits { get; }

    /// <summary>The served narinfo bytes, or null when the cache does not have the path. The hot path.</summary>
    public ValueTask<byte[]?> GetNarInfoAsync(CacheContext cache, string storePathHash, CancellationToken cancellationToken)
    {
        if (!StorePath.IsValidHashPart(storePathHash))
        {
            throw InvalidHashPart(storePathHash);
        }

        if (_memory.TryGet(cache.Id, storePathHash, out var text))
        {
            if (text is not null)
            {
                _access?.RecordNarInfo(cache.Id, storePathHash);
            }

            return ValueTask.FromResult(text);
        }

        return LoadNarInfoAsync(cache, storePathHash, cancellationToken);
    }

    /// <summary>
    /// A narinfo memory does not hold (or holds no longer), from the index. Concurrent requests for one narinfo share
    /// one query: a miss remembered for 2 seconds expires under 64 busy connections all at once, and each used to
    /// ask the index (on PostgreSQL: a burst of new pool connections every 2 seconds, p99 in the hundreds of ms).
    /// </summary>
    private async ValueTask<byte[]?> LoadNarInfoAsync(CacheContext cache, string storePathHash, CancellationToken cancellationToken)
    {
        var text = await _narInfoLoads.RunAsync((cache.Id, storePathHash), this, static (key, self) => self.LoadNarInfoCoreAsync(key.CacheId, key.Hash))
            .WaitAsync(cancellationToken).ConfigureAwait(false);
        if (text is not null)
        {
            _access?.RecordNarInfo(cache.Id, storePathHash);
        }

        return text;
    }

    private async Task<byte[]?> LoadNarInfoCoreAsync(long cacheId, string storePathHash)
    {
        var record = await _narInfos.GetNarInfoAsync(cacheId, storePathHash, CancellationToken.None).ConfigureAwait(false);
        if (record is null)
        {
            _memory.SetMissing(cacheId, storePathHash);
            return null;
        }

        _memory.SetFound(cacheId, storePathHash, record.Text);
        return record.Text;
    }

    /// <summary>
    /// Stores an uploaded NAR file. The bytes must hash to the FileHash in its name and decompress
    /// (according to its extension) to a NAR; the NarHash and NarSize found are recorded for the narinfo check, and
    /// the file's blob becomes one the cache owns (bytes another cache stored already are verified, not stored again).
    /// </summary>
    public Task<NarFileRecord> PutNarAsync(
        CacheContext cache, string fileName, Stream body, long? declaredLength, CancellationToken cancellationToken) =>
        PutNarAsync(cache, NarFileName.Parse(fileName), body, declaredLength, expected: null, cancellationToken);

    /// <summary>
    /// Stores a NAR file, as <see cref="PutNarAsync(CacheContext, string, Stream, long?, CancellationToken)"/> does, and when
    /// <paramref name="expected"/> is given also requires the FileSize, NarHash and NarSize it names (e.g. from a signed
    /// upstream narinfo) before anything becomes visible; a mismatch is <see cref="CacheError.Invalid"/> and stores nothing.
    /// </summary>
    public async Task<NarFileRecord> PutNarAsync(
        CacheContext cache, NarFileName name, Stream body, long? declaredLength, NarExpectation? expected, CancellationToken cancellationToken)
    {
        var fileName = name.ToString();
        if (declaredLength > Limits.MaxNarBytes)
        {
            throw TooLarge("NAR", declaredLength.Value, Limits.MaxNarBytes);
        }

        using var hasher = new NarHasher(name.Compression);
        await using var writer = await _blobs.BeginWriteAsync(name.FileHash, cancellationToken).ConfigureAwait(false);
        await CopyAsync(body, writer, Limits.MaxNarBytes, "NAR", hasher, cancellationToken).ConfigureAwait(false);
        var hashes = hasher.Complete();
        if (expected is { } e && (e.FileSize != hashes.FileSize || e.NarHash != hashes.NarHash || e.NarSize != hashes.NarSize))
        {
            throw CacheException.Invalid(
                $"nar/{fileName} is not the NAR its narinfo describes: {hashes.FileSize} bytes holding a NAR of {hashes.NarSize} bytes with NarHash {hashes.NarHash}, " +
                $"expected {e.FileSize} bytes holding {e.NarSize} bytes with NarHash {e.NarHash}");
        }

        // The writer hashed the file's bytes as it stored them (the only hash of the file: the NAR hasher hashes the
        // NAR inside) and commits them only when they hash to the FileHash in the name; a mismatch stores nothing.
        // The blob is in place under its name before any index row names it (a crash in between leaves an unnamed
        // blob, which garbage collection removes). On disk its fsync follows in the background: after a machine crash
        // the start's check drops rows whose bytes did not survive (DiskRecovery).
        BlobCommit commit;
        try
        {
            commit = await writer.CommitAsync(name.FileHash, cancellationToken).ConfigureAwait(false);
        }
        catch (CacheException mismatch) when (mismatch.Error == CacheError.Invalid)
        {
            throw CacheException.Invalid($"NAR upload nar/{fileName} does not match its name ({NixHash.FromDigest(name.FileHash)}): {mismatch.Message}");
        }

        CrashPoints.Reach(CrashPoints.NarBlobPublished);
        var record = new NarFileRecord(
            commit.Digest, NarCompressions.ToNarInfoName(name.Compression), commit.Size, hashes.NarHash.ToString(), hashes.NarSize, _time.GetUtcNow());
        // One transaction: the blob, the NAR record, and the cache's ownership: verified bytes that came in through
        // the cache (an upload or an upstream pull) are its own, so its CAS routes serve them too. The membership
        // follows the NAR record (retention), not the quota (IndexRows.QuotaBlob).
        await _narInfos.RecordNarUploadAsync(cache.Id, record, cancellationToken).ConfigureAwait(false);
        return record;
    }

    /// <summary>Opens a NAR file of the cache, or returns null when the cache has no such file.</summary>
    public async Task<BlobHandle?> OpenNarAsync(CacheContext cache, string fileName, CancellationToken cancellationToken)
    {
        var name = NarFileName.Parse(fileName);
        var nar = await _narInfos.GetNarFileAsync(cache.Id, name.FileHash, cancellationToken).ConfigureAwait(false);
        if (nar is null || nar.Compression != NarCompressions.ToNarInfoName(name.Compression))
        {
            return null;
        }

        // No access is recorded for the blob: a Nix cache keeps a NAR for as long as a narinfo names it (retention
        // works on narinfo access); its membership in the cache's blobs is outside the quota's LRU order. The index
        // knows its size, so S3 answers with one GetObject (no HeadObject first); bytes lost from the bucket behind
        // the index's back fail the read with NotFound (404) before the response starts.
        return await _blobs.OpenKnownAsync(name.FileHash, nar.FileSize, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Accepts a narinfo upload: it must parse, name the store path of the URL, and describe a NAR file that
    /// this cache holds with the same FileHash, FileSize, NarHash and NarSize. The cache's signature is added
    /// (uploaded signatures are kept) and the rendered text is stored, so GETs serve it as is.
    /// </summary>
    public async Task<NarInfoRecord> PutNarInfoAsync(
        CacheContext cache, string storePathHash, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        if (!StorePath.IsValidHashPart(storePathHash))
        {
            throw InvalidHashPart(storePathHash);
        }

        if (body.Length > Limits.MaxNarInfoBytes)
        {
            throw TooLarge("narinfo", body.Length, Limits.MaxNarInfoBytes);
        }

        var info = NarInfo.Parse(body.Span, cache.Record.StoreDir);
        var storePath = info.StorePath;
        if (storePath.HashPart != storePathHash)
        {
            throw CacheException.Invalid($"narinfo for {info.StorePath} was sent to {storePathHash}.narinfo; the hash parts differ");
        }

        const string narPrefix = "nar/";
        if (!info.Url.StartsWith(narPrefix, StringComparison.Ordinal) || !NarFileName.TryParse(info.Url.AsSpan(narPrefix.Length), out var name))
        {
            throw CacheException.Invalid($"narinfo URL '{info.Url}' is not of the form nar/<filehash>.nar[.xz|.zst|.br|.bz2]");
        }

        var compression = info.Compression; // the parser gives Nix's default, bzip2, when the field is absent
        if (compression != NarCompressions.ToNarInfoName(name.Compression))
        {
            throw CacheException.Invalid($"narinfo says Compression: {compression}, but its URL {info.Url} names {NarCompressions.ToNarInfoName(name.Compression)}");
        }

        if (info.FileHash is { } declaredFileHash && declaredFileHash.Digest != name.FileHash)
        {
            throw CacheException.Invalid($"narinfo FileHash {declaredFileHash} differs from the hash in its URL {info.Url}");
        }

        // One query reads both what the narinfo is checked against and the narinfo it replaces (signatures to keep):
        // with the write, two index round trips per narinfo PUT instead of three.
        var basis = await _narInfos.GetNarInfoUploadBasisAsync(cache.Id, name.FileHash, storePathHash, cancellationToken).ConfigureAwait(false)
            ?? throw CacheException.Invalid($"narinfo for {info.StorePath} refers to {info.Url}, which cache '{cache.Name}' does not have; upload the NAR first");
        var nar = basis.Nar;
        if (nar.Compression != compression)
        {
            throw CacheException.Invalid($"narinfo says Compression: {compression}, the stored {info.Url} was uploaded as {nar.Compression}");
        }

        if (info.FileSize is { } fileSize && fileSize != nar.FileSize)
        {
            throw CacheException.Invalid($"narinfo FileSize {fileSize} does not match the stored {info.Url} ({nar.FileSize} bytes)");
        }

        if (info.NarHash.ToString() != nar.NarHash)
        {
            throw CacheException.Invalid($"narinfo NarHash {info.NarHash} does not match the NAR in {info.Url}, which hashes to {nar.NarHash}");
        }

        if (info.NarSize != nar.NarSize)
        {
            throw CacheException.Invalid($"narinfo NarSize {info.NarSize} does not match the NAR in {info.Url}, which has {nar.NarSize} bytes");
        }

        info.FileHash = NixHash.FromDigest(nar.FileHash);
        info.FileSize = nar.FileSize;
        return await StoreNarInfoAsync(cache, info, basis.EarlierText, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Signs a verified narinfo with the cache's key (other signatures are kept, an older one by the same key replaced),
    /// stores the rendered text and puts it in front of the index, so GETs serve it as is. The caller has checked it:
    /// its URL is this cache's <c>nar/&lt;filehash&gt;</c> form and FileHash and FileSize are set.
    /// When the cache already has the path with the same signed content (the fingerprint: store path, NarHash, NarSize,
    /// references), the signatures of the earlier uploads are kept next to the new ones (the new one wins per key
    /// name), so two builders that upload the same output both stand behind it. Different content replaces the
    /// earlier narinfo and its signatures, which sign something else (last writer wins, as before).
    /// </summary>
    public async Task<NarInfoRecord> StoreNarInfoAsync(CacheContext cache, NarInfo info, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(info);
        var existing = await _narInfos.GetNarInfoAsync(cache.Id, info.StorePath.HashPart, cancellationToken).ConfigureAwait(false);
        return await StoreNarInfoAsync(cache, info, existing?.Text, cancellationToken).ConfigureAwait(false);
    }

    /// <summary><see cref="StoreNarInfoAsync(CacheContext, NarInfo, CancellationToken)"/>, the earlier narinfo's text (null: none) read already.</summary>
    private async Task<NarInfoRecord> StoreNarInfoAsync(CacheContext cache, NarInfo info, byte[]? earlierText, CancellationToken cancellationToken)
    {
        if (info.FileHash is not { } fileHash || info.FileSize is not { } fileSize)
        {
            throw new ArgumentException("a narinfo to store needs FileHash and FileSize", nameof(info));
        }

        var storePathHash = info.StorePath.HashPart;
        if (earlierText is not null)
        {
            KeepEarlierSignatures(info, NarInfo.Parse(earlierText, cache.Record.StoreDir), cache.SigningKey.Name);
        }

        info.Sign(cache.SigningKey);
        var now = _time.GetUtcNow();
        var text = info.RenderUtf8();
        var record = new NarInfoRecord(
            storePathHash, info.StorePath.FullPath, fileHash.Digest, fileSize, info.NarHash.ToString(), info.NarSize,
            string.Join(' ', info.References), info.Deriver, text, now, now);
        await _narInfos.PutNarInfoAsync(cache.Id, record, cancellationToken).ConfigureAwait(false);
        _memory.Forget(cache.Id, storePathHash);
        _memory.SetFound(cache.Id, storePathHash, text);
        return record;
    }

    /// <summary>Adds the earlier narinfo's signatures by other keys when it signs the same fingerprint (and its Deriver when the new one has none).</summary>
    private static void KeepEarlierSignatures(NarInfo info, NarInfo earlier, string cacheKeyName)
    {
        if (earlier.Fingerprint() != info.Fingerprint())
        {
            return;
        }

        foreach (var sig in earlier.Sigs)
        {
            var name = sig[..(sig.IndexOf(':') + 1)];
            if (name.Length > 1 && name != cacheKeyName + ":" && !info.Sigs.Exists(s => s.StartsWith(name, StringComparison.Ordinal)))
            {
                info.Sigs.Add(sig);
            }
        }

        info.Deriver ??= earlier.Deriver;
    }

    /// <summary>Stores an auxiliary file (build log, listing) of the cache.</summary>
    public async Task<CacheFileRecord> PutFileAsync(
        CacheContext cache, string path, string contentType, string? contentEncoding, Stream body, long? declaredLength, CancellationToken cancellationToken)
    {
        if (contentEncoding is not null && (contentEncoding.Length > 16 || !contentEncoding.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-')))
        {
            throw CacheException.Invalid($"unsupported Content-Encoding '{contentEncoding}'");
        }

        if (declaredLength > Limits.MaxFileBytes)
        {
            throw TooLarge(path, declaredLength.Value, Limits.MaxFileBytes);
        }

        await using var writer = await _blobs.BeginWriteAsync(expected: null, cancellationToken).ConfigureAwait(false);
        await CopyAsync(body, writer, Limits.MaxFileBytes, path, null, cancellationToken).ConfigureAwait(false);
        var commit = await writer.CommitAsync(null, cancellationToken).ConfigureAwait(false);
        var now = _time.GetUtcNow();
        await _blobIndex.RecordBlobAsync(commit.Digest, commit.Size, now, cancellationToken).ConfigureAwait(false);
        var record = new CacheFileRecord(path, commit.Digest, commit.Size, contentType, contentEncoding, now);
        await _narInfos.PutCacheFileAsync(cache.Id, record, cancellationToken).ConfigureAwait(false);
        return record;
    }

    public async Task<(CacheFileRecord File, BlobHandle Blob)?> OpenFileAsync(CacheContext cache, string path, CancellationToken cancellationToken)
    {
        var file = await _narInfos.GetCacheFileAsync(cache.Id, path, cancellationToken).ConfigureAwait(false);
        if (file is null)
        {
            return null;
        }

        var blob = await _blobs.OpenAsync(file.Blob, cancellationToken).ConfigureAwait(false);
        return blob is null ? null : (file, blob);
    }

    /// <summary>Streams a request body into a blob writer (and the NAR hasher, when given), enforcing a size limit.</summary>
    private static async Task CopyAsync(
        Stream body, IBlobWriter writer, long limit, string what, NarHasher? hasher, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
        try
        {
            int read;
            while ((read = await body.ReadAsync(buffer.AsMemory(0, ChunkSize), cancellationToken).ConfigureAwait(false)) > 0)
            {
                if (writer.Length + read > limit)
                {
                    throw TooLarge(what, writer.Length + read, limit);
                }

                hasher?.Append(buffer.AsSpan(0, read));
                await writer.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static CacheException InvalidHashPart(string hash) =>
        CacheException.Invalid($"'{ClientText.Cut(hash)}' is not a store path hash: expected 32 nix-base32 characters (0-9, a-z without e, o, u, t)");

    private static CacheException TooLarge(string what, long size, long limit) =>
        new(CacheError.TooLarge, $"{what} of {size} bytes exceeds the limit of {limit} bytes");
}
