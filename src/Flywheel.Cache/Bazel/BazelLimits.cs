namespace Flywheel.Cache.Bazel;

/// <summary>Size limits of the Bazel caches, in bytes.</summary>
/// <param name="MaxBatchTotalBytes">
/// The most blob bytes one BatchUpdateBlobs / BatchReadBlobs call carries, advertised by GetCapabilities as
/// max_batch_total_size_bytes; also the byte budget of one GetTree page. Clients send larger blobs through
/// ByteStream. The gRPC transport's message size limit must leave room for this plus per-entry overhead.
/// </param>
/// <param name="MaxActionResultBytes">The largest serialized ActionResult accepted into the action cache.</param>
/// <param name="MaxInlineBytes">How many bytes of stdout, stderr and output files GetActionResult inlines in total.</param>
/// <param name="MaxBlobBytes">The largest CAS blob accepted (advertised as max_cas_blob_size_bytes).</param>
/// <param name="MaxTreeBytes">The largest Tree or Directory blob read into memory (completeness checks, GetTree).</param>
public sealed record BazelLimits(
    long MaxBatchTotalBytes,
    long MaxActionResultBytes,
    long MaxInlineBytes,
    long MaxBlobBytes,
    long MaxTreeBytes)
{
    public static BazelLimits Default { get; } = new(
        MaxBatchTotalBytes: 4L * 1024 * 1024,
        MaxActionResultBytes: 1L * 1024 * 1024,
        MaxInlineBytes: 1L * 1024 * 1024,
        MaxBlobBytes: 64L * 1024 * 1024 * 1024,
        MaxTreeBytes: 64L * 1024 * 1024);
}
