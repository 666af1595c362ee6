using Build.Bazel.Remote.Execution.V2;
using Flywheel.Cache.Caches;
using Google.Protobuf;

namespace Flywheel.Cache.Bazel;

public sealed partial class BazelCache
{
    /// <summary>
    /// The stored serialized ActionResult for an action, as it was stored, but only when the cache owns every blob it
    /// references (output files, stdout, stderr, Trees and the files inside them); otherwise null, a miss, so the
    /// client runs the action again instead of failing to download its outputs (or reading another cache's).
    /// </summary>
    public async Task<byte[]?> GetActionResultAsync(CacheContext cache, BazelDigest actionDigest, CancellationToken cancellationToken)
    {
        var entry = await LoadCompleteAsync(cache, actionDigest, cancellationToken).ConfigureAwait(false);
        return entry?.Bytes;
    }

    /// <summary>
    /// The ActionResult for gRPC GetActionResult (null: NOT_FOUND), complete as for <see cref="GetActionResultAsync"/>.
    /// Inlining, when asked, fills stdout_raw, stderr_raw and the listed output files' contents from the CAS, in
    /// that order, while the total stays within <see cref="BazelLimits.MaxInlineBytes"/>; what does not fit is left
    /// to the client to fetch by digest, as the protocol allows.
    /// </summary>
    public async Task<ActionResult?> GetActionResultMessageAsync(
        CacheContext cache,
        BazelDigest actionDigest,
        bool inlineStdout,
        bool inlineStderr,
        IReadOnlyCollection<string>? inlineOutputFiles,
        CancellationToken cancellationToken)
    {
        var entry = await LoadCompleteAsync(cache, actionDigest, cancellationToken).ConfigureAwait(false);
        if (entry is null)
        {
            return null;
        }

        var result = entry.Value.Result;
        var budget = Limits.MaxInlineBytes;

        // Raw bytes stored alongside a digest are not sent unless asked; raw bytes without a digest are the only copy.
        if (result.StdoutDigest is not null)
        {
            result.StdoutRaw = ByteString.Empty;
            if (inlineStdout)
            {
                (result.StdoutRaw, budget) = await InlineAsync(cache, result.StdoutDigest, budget, cancellationToken).ConfigureAwait(false);
            }
        }

        if (result.StderrDigest is not null)
        {
            result.StderrRaw = ByteString.Empty;
            if (inlineStderr)
            {
                (result.StderrRaw, budget) = await InlineAsync(cache, result.StderrDigest, budget, cancellationToken).ConfigureAwait(false);
            }
        }

        var wanted = inlineOutputFiles is { Count: > 0 } ? new HashSet<string>(inlineOutputFiles, StringComparer.Ordinal) : null;
        foreach (var file in result.OutputFiles)
        {
            file.Contents = ByteString.Empty;
            if (wanted is not null && wanted.Contains(file.Path))
            {
                (file.Contents, budget) = await InlineAsync(cache, file.Digest, budget, cancellationToken).ConfigureAwait(false);
            }
        }

        return result;
    }

    /// <summary>
    /// Stores a serialized ActionResult as sent (Bazel HTTP <c>/ac/</c> PUT): it must parse, be well formed and fit
    /// <see cref="BazelLimits.MaxActionResultBytes"/>. The referenced blobs need not exist yet; reads check that.
    /// </summary>
    public async Task PutActionResultAsync(
        CacheContext cache, BazelDigest actionDigest, ReadOnlyMemory<byte> serializedActionResult, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cache);
        if (serializedActionResult.Length > Limits.MaxActionResultBytes)
        {
            throw TooLarge("ActionResult", serializedActionResult.Length, Limits.MaxActionResultBytes);
        }

        ActionResult result;
        try
        {
            result = ActionResult.Parser.ParseFrom(serializedActionResult.Span);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new CacheException(CacheError.Invalid, $"not a serialized ActionResult: {e.Message}", e);
        }

        ActionResultReferences.Validate(result);
        var now = _time.GetUtcNow();
        await _actionResults.PutActionResultAsync(cache.Id, actionDigest.Hash, serializedActionResult, now, cancellationToken).ConfigureAwait(false);
        await KeepReferencesAsync(cache, result, now, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Stores an ActionResult from gRPC UpdateActionResult and returns what was stored. Inline bytes a client sent
    /// (stdout_raw, stderr_raw, output file contents, which clients should not send) are moved into the CAS: each
    /// is stored as a blob, checked against the digest next to it (or that digest is filled in when absent), and
    /// then cleared, so the stored entry is canonical and the bytes are not lost.
    /// </summary>
    public async Task<ActionResult> UpdateActionResultAsync(
        CacheContext cache, BazelDigest actionDigest, ActionResult actionResult, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cache);
        ArgumentNullException.ThrowIfNull(actionResult);
        var result = actionResult.Clone();
        result.StdoutDigest = await MoveInlineAsync(cache, result.StdoutRaw, result.StdoutDigest, "stdout_raw", cancellationToken).ConfigureAwait(false);
        result.StdoutRaw = ByteString.Empty;
        result.StderrDigest = await MoveInlineAsync(cache, result.StderrRaw, result.StderrDigest, "stderr_raw", cancellationToken).ConfigureAwait(false);
        result.StderrRaw = ByteString.Empty;
        foreach (var file in result.OutputFiles)
        {
            file.Digest = await MoveInlineAsync(cache, file.Contents, file.Digest, $"contents of {file.Path}", cancellationToken).ConfigureAwait(false);
            file.Contents = ByteString.Empty;
        }

        ActionResultReferences.Validate(result);
        var bytes = result.ToByteArray();
        if (bytes.Length > Limits.MaxActionResultBytes)
        {
            throw TooLarge("ActionResult", bytes.Length, Limits.MaxActionResultBytes);
        }

        var now = _time.GetUtcNow();
        await _actionResults.PutActionResultAsync(cache.Id, actionDigest.Hash, bytes, now, cancellationToken).ConfigureAwait(false);
        await KeepReferencesAsync(cache, result, now, cancellationToken).ConfigureAwait(false);
        return result;
    }

    /// <summary>
    /// Bumps the blobs a new action result references that the cache owns, so that its own quota eviction does not
    /// take them first while this entry is fresh. Naming a blob never makes it the cache's (only its bytes coming in
    /// through the cache do): an entry naming blobs the cache does not own is a miss until they are uploaded to it.
    /// Trees the cache cannot read (yet) contribute their own digest only.
    /// </summary>
    private async Task KeepReferencesAsync(CacheContext cache, ActionResult result, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var references = await ActionResultReferences.CollectAsync(result, (d, ct) => ReadTreeAsync(cache, d, ct), cancellationToken)
            .ConfigureAwait(false);
        if (references is null)
        {
            var direct = new HashSet<BazelDigest>();
            ActionResultReferences.AddDirect(result, direct);
            references = direct;
        }

        if (references.Count > 0)
        {
            await _blobIndex.TouchOwnedBlobsAsync(cache.Id, references.Select(d => d.Hash).ToList(), now, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The entry and its parsed form when it exists, parses and is complete; otherwise null.</summary>
    private async Task<(byte[] Bytes, ActionResult Result)?> LoadCompleteAsync(
        CacheContext cache, BazelDigest actionDigest, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cache);
        var bytes = await _actionResults.GetActionResultAsync(cache.Id, actionDigest.Hash, cancellationToken).ConfigureAwait(false);
        if (bytes is null)
        {
            return null;
        }

        ActionResult result;
        try
        {
            result = ActionResult.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException)
        {
            return null; // a damaged entry is a miss: the client rebuilds and replaces it
        }

        var references = await ActionResultReferences.CollectAsync(result, (d, ct) => ReadTreeAsync(cache, d, ct), cancellationToken)
            .ConfigureAwait(false);
        if (references is null)
        {
            return null;
        }

        if (references.Count > 0)
        {
            var asked = new Index.SizedBlob[references.Count];
            var i = 0;
            foreach (var digest in references)
            {
                asked[i++] = digest.ToSizedBlob();
            }

            var missing = await _blobIndex.FindMissingSizedBlobsAsync(cache.Id, asked, cancellationToken).ConfigureAwait(false);
            if (missing.Count > 0)
            {
                return null;
            }

            // A hit keeps everything it needs alive for LRU eviction, downloaded by the client or not.
            foreach (var digest in references)
            {
                _access?.RecordBlob(cache.Id, digest.Hash);
            }
        }

        _access?.RecordActionResult(cache.Id, actionDigest.Hash);
        return (bytes, result);
    }

    private async ValueTask<Tree?> ReadTreeAsync(CacheContext reader, BazelDigest digest, CancellationToken cancellationToken)
    {
        var bytes = await ReadSmallCoreAsync(reader, digest, Limits.MaxTreeBytes, cancellationToken).ConfigureAwait(false);
        if (bytes is null)
        {
            return null;
        }

        try
        {
            return Tree.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException)
        {
            return null;
        }
    }

    private async ValueTask<(ByteString Bytes, long Budget)> InlineAsync(CacheContext cache, Digest? digest, long budget, CancellationToken cancellationToken)
    {
        if (!BazelDigest.TryFrom(digest, out var parsed) || parsed.SizeBytes > budget)
        {
            return (ByteString.Empty, budget);
        }

        var bytes = await ReadSmallAsync(cache, parsed, budget, cancellationToken).ConfigureAwait(false);
        return bytes is null ? (ByteString.Empty, budget) : (UnsafeByteOperations.UnsafeWrap(bytes), budget - bytes.Length);
    }

    private async ValueTask<Digest?> MoveInlineAsync(CacheContext cache, ByteString raw, Digest? digest, string what, CancellationToken cancellationToken)
    {
        if (raw.IsEmpty)
        {
            return digest;
        }

        var actual = BazelDigest.Compute(raw.Span);
        if (digest is not null && BazelDigest.From(digest, what + " digest") != actual)
        {
            throw CacheException.Invalid($"{what} hashes to {actual}, but the result names {digest.Hash}/{digest.SizeBytes}");
        }

        await PutAsync(cache, actual, raw.Memory, cancellationToken).ConfigureAwait(false);
        return digest ?? actual.ToProto();
    }
}
