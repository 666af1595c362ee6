using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Index;

/// <summary>A Nix binary cache (one namespace under <c>/&lt;name&gt;/</c>).</summary>
/// <param name="SigningSecretKey">The cache's Ed25519 secret key in Nix's format, <c>name:base64(64 bytes)</c>.</param>
/// <param name="PublicKey">The matching public key, <c>name:base64(32 bytes)</c>, as users put it in trusted-public-keys.</param>
/// <param name="Retention">Nix paths not accessed for this long may be collected; null keeps them.</param>
/// <param name="QuotaBytes">The most CAS bytes the cache (a Bazel instance) may use before the least recently used are evicted; null: no quota.</param>
public sealed record CacheRecord(
    long Id,
    string Name,
    bool IsPublic,
    int Priority,
    string StoreDir,
    string SigningSecretKey,
    string PublicKey,
    TimeSpan? Retention,
    DateTimeOffset CreatedAt,
    long? QuotaBytes = null);

/// <summary>What a token may do.</summary>
[Flags]
public enum TokenScopes
{
    None = 0,
    Pull = 1,
    Push = 2,
    Admin = 4,
    Promote = 8,
}

/// <summary>
/// An access token. Only the SHA-256 of the secret is stored; the secret is shown once at creation.
/// </summary>
/// <param name="CachePattern">A glob over cache (or instance) names: <c>*</c>, <c>main</c>, <c>team-*</c>.</param>
public sealed record TokenRecord(
    string Id,
    BlobDigest SecretHash,
    string CachePattern,
    TokenScopes Scopes,
    string? Description,
    DateTimeOffset CreatedAt,
    DateTimeOffset? ExpiresAt,
    DateTimeOffset? RevokedAt);

/// <summary>
/// A NAR file stored for a cache, with what was verified when it was uploaded: its FileHash and
/// FileSize (the stored bytes) and the NarHash and NarSize of the bytes after decompression.
/// </summary>
/// <param name="NarHash">In Nix's form, <c>sha256:&lt;nix base32&gt;</c>.</param>
public sealed record NarFileRecord(
    BlobDigest FileHash,
    string Compression,
    long FileSize,
    string NarHash,
    long NarSize,
    DateTimeOffset CreatedAt);

/// <summary>What a narinfo upload checks against, read in one query: the NAR file record it names, and the text of the narinfo the cache has for the path already (null when none).</summary>
public sealed record NarInfoUploadBasis(NarFileRecord Nar, byte[]? EarlierText);

/// <summary>
/// A narinfo of a cache. <see cref="Text"/> is the rendered narinfo as served, signatures included,
/// so a GET needs no rendering or signing. The other fields are indexed for queries (GC, closures).
/// </summary>
/// <param name="StorePathHash">The 32 nix-base32 characters of the store path's hash part.</param>
/// <param name="References">Store path base names, space-separated, as in the narinfo.</param>
public sealed record NarInfoRecord(
    string StorePathHash,
    string StorePath,
    BlobDigest FileHash,
    long FileSize,
    string NarHash,
    long NarSize,
    string References,
    string? Deriver,
    byte[] Text,
    DateTimeOffset CreatedAt,
    DateTimeOffset LastAccess);

/// <summary>An auxiliary file of a cache (a build log under <c>log/</c>, a <c>.ls</c> listing), stored as a blob.</summary>
/// <param name="ContentEncoding">The Content-Encoding it was uploaded with (Nix compresses logs and listings, e.g. <c>br</c>), served back as is.</param>
public sealed record CacheFileRecord(
    string Path,
    BlobDigest Blob,
    long Size,
    string ContentType,
    string? ContentEncoding,
    DateTimeOffset CreatedAt);

/// <summary>
/// An upstream Nix binary cache that a cache reads through to: narinfos it lacks are asked of its upstreams in
/// <see cref="Priority"/> order (lower first, then <see cref="Id"/>), and served only when signed by one of
/// <see cref="TrustedKeys"/>.
/// </summary>
/// <param name="Url">The upstream's root, absolute http(s), without a trailing slash (e.g. <c>https://cache.nixos.org</c>).</param>
/// <param name="TrustedKeys">Public keys, <c>name:base64</c>, at least one.</param>
/// <param name="Token">Sent as <c>Authorization: Bearer</c> (Attic takes that); null sends none.</param>
/// <param name="Timeout">How long one request may take to answer (and a NAR download may stall).</param>
public sealed record UpstreamRecord(
    long Id,
    long CacheId,
    string Url,
    int Priority,
    IReadOnlyList<string> TrustedKeys,
    string? Token,
    TimeSpan Timeout,
    DateTimeOffset CreatedAt);

/// <summary>
/// A NAR file that a narinfo fetched from an upstream refers to and that is not stored yet: where to fetch it
/// and what it must turn out to be (FileHash and FileSize of the bytes, NarHash and NarSize once decompressed).
/// </summary>
/// <param name="Url">The NAR's absolute URL at the upstream.</param>
/// <param name="NarHash">In Nix's form, <c>sha256:&lt;nix base32&gt;</c>.</param>
public sealed record UpstreamNarRecord(
    BlobDigest FileHash,
    long UpstreamId,
    string Url,
    string Compression,
    long FileSize,
    string NarHash,
    long NarSize,
    DateTimeOffset CreatedAt);
