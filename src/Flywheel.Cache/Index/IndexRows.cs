using System.Data.Common;
using System.Globalization;
using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Index;

/// <summary>
/// Rows of the index as records, the same for every SQL implementation (their SELECTs list the columns in the
/// order given here). Digest columns are read by the caller, which knows its driver's cheapest way.
/// </summary>
internal static class IndexRows
{
    public static DateTimeOffset FromUnix(long milliseconds) => DateTimeOffset.FromUnixTimeMilliseconds(milliseconds);

    /// <summary>id, name, is_public, priority, store_dir, signing_secret_key, public_key, retention_seconds, created_at, quota_bytes</summary>
    public static CacheRecord Cache(DbDataReader reader) => new(
        Id: reader.GetInt64(0),
        Name: reader.GetString(1),
        IsPublic: reader.GetBoolean(2),
        Priority: reader.GetInt32(3),
        StoreDir: reader.GetString(4),
        SigningSecretKey: reader.GetString(5),
        PublicKey: reader.GetString(6),
        Retention: reader.IsDBNull(7) ? null : TimeSpan.FromSeconds(reader.GetInt64(7)),
        CreatedAt: FromUnix(reader.GetInt64(8)),
        QuotaBytes: reader.IsDBNull(9) ? null : reader.GetInt64(9));

    /// <summary>id, (secret_hash: <paramref name="secretHash"/>), cache_pattern, scopes, description, created_at, expires_at, revoked_at</summary>
    public static TokenRecord Token(DbDataReader reader, BlobDigest secretHash) => new(
        Id: reader.GetString(0),
        SecretHash: secretHash,
        CachePattern: reader.GetString(2),
        Scopes: (TokenScopes)Convert.ToInt64(reader.GetValue(3), CultureInfo.InvariantCulture), // INTEGER or int4, by dialect
        Description: reader.IsDBNull(4) ? null : reader.GetString(4),
        CreatedAt: FromUnix(reader.GetInt64(5)),
        ExpiresAt: reader.IsDBNull(6) ? null : FromUnix(reader.GetInt64(6)),
        RevokedAt: reader.IsDBNull(7) ? null : FromUnix(reader.GetInt64(7)));

    /// <summary>compression, file_size, nar_hash, nar_size, created_at</summary>
    public static NarFileRecord NarFile(DbDataReader reader, BlobDigest fileHash) => new(
        FileHash: fileHash,
        Compression: reader.GetString(0),
        FileSize: reader.GetInt64(1),
        NarHash: reader.GetString(2),
        NarSize: reader.GetInt64(3),
        CreatedAt: FromUnix(reader.GetInt64(4)));

    /// <summary>(blob: <paramref name="blob"/>), size, content_type, content_encoding, created_at</summary>
    public static CacheFileRecord CacheFile(DbDataReader reader, string path, BlobDigest blob) => new(
        Path: path,
        Blob: blob,
        Size: reader.GetInt64(1),
        ContentType: reader.GetString(2),
        ContentEncoding: reader.IsDBNull(3) ? null : reader.GetString(3),
        CreatedAt: FromUnix(reader.GetInt64(4)));

    /// <summary>store_path, (file_hash: <paramref name="fileHash"/>), file_size, nar_hash, nar_size, refs, deriver, text, created_at, last_access</summary>
    public static NarInfoRecord NarInfo(DbDataReader reader, string storePathHash, BlobDigest fileHash) => new(
        StorePathHash: storePathHash,
        StorePath: reader.GetString(0),
        FileHash: fileHash,
        FileSize: reader.GetInt64(2),
        NarHash: reader.GetString(3),
        NarSize: reader.GetInt64(4),
        References: reader.GetString(5),
        Deriver: reader.IsDBNull(6) ? null : reader.GetString(6),
        Text: reader.GetFieldValue<byte[]>(7),
        CreatedAt: FromUnix(reader.GetInt64(8)),
        LastAccess: FromUnix(reader.GetInt64(9)));

    /// <summary>store_path_hash, reason, created_at</summary>
    public static PinRecord Pin(DbDataReader reader) => new(reader.GetString(0), reader.GetString(1), FromUnix(reader.GetInt64(2)));

    /// <summary>store_path_hash, refs, last_access, file_size</summary>
    public static NarInfoNode NarInfoNode(DbDataReader reader) =>
        new(reader.GetString(0), reader.GetString(1), FromUnix(reader.GetInt64(2)), reader.GetInt64(3));

    /// <summary>
    /// The clause that makes a blob record unreferenced: no cache uses it, and no NAR record, narinfo or cache file
    /// names it (the same text for every dialect; <c>b</c> is the blobs row).
    /// </summary>
    public const string UnreferencedBlob =
        "NOT EXISTS (SELECT 1 FROM cache_blobs AS c WHERE c.digest = b.digest) " +
        "AND NOT EXISTS (SELECT 1 FROM nar_files AS n WHERE n.file_hash = b.digest) " +
        "AND NOT EXISTS (SELECT 1 FROM narinfos AS i WHERE i.file_hash = b.digest) " +
        "AND NOT EXISTS (SELECT 1 FROM cache_files AS f WHERE f.blob = b.digest)";

    /// <summary>
    /// The clause that puts a cache's blob membership under its quota: a blob the cache has as a NAR file (a NAR record of
    /// the same cache names it) is kept for as long as that record is, by retention, and neither counts against the quota
    /// nor is evicted by it (the same text for every dialect; <c>c</c> is the cache_blobs row).
    /// </summary>
    public const string QuotaBlob =
        "NOT EXISTS (SELECT 1 FROM nar_files AS n WHERE n.cache_id = c.cache_id AND n.file_hash = c.digest)";

    public const string PromotionColumns =
        "id, cache_id, status, class, target, repository, revision, request, decision, provenance, publication, error, created_at, updated_at";

    /// <summary><see cref="PromotionColumns"/>, with the paths read separately.</summary>
    public static PromotionRecord Promotion(DbDataReader reader, IReadOnlyList<PromotedPath> paths) => new(
        Id: reader.GetString(0),
        CacheId: reader.GetInt64(1),
        Status: reader.GetString(2),
        Class: reader.GetString(3),
        Target: NullableString(reader, 4),
        Repository: NullableString(reader, 5),
        Revision: NullableString(reader, 6),
        Request: reader.GetString(7),
        Decision: reader.GetString(8),
        Provenance: NullableString(reader, 9),
        Publication: NullableString(reader, 10),
        Error: NullableString(reader, 11),
        Paths: paths,
        CreatedAt: FromUnix(reader.GetInt64(12)),
        UpdatedAt: FromUnix(reader.GetInt64(13)));

    private static string? NullableString(DbDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);
    /// <summary>id, cache_id, url, priority, trusted_keys, token, timeout_ms, created_at</summary>
    public static UpstreamRecord Upstream(DbDataReader reader) => new(
        Id: reader.GetInt64(0),
        CacheId: reader.GetInt64(1),
        Url: reader.GetString(2),
        Priority: reader.GetInt32(3),
        TrustedKeys: reader.GetString(4).Split(' ', StringSplitOptions.RemoveEmptyEntries),
        Token: reader.IsDBNull(5) ? null : reader.GetString(5),
        Timeout: TimeSpan.FromMilliseconds(reader.GetInt64(6)),
        CreatedAt: FromUnix(reader.GetInt64(7)));

    /// <summary>(file_hash: <paramref name="fileHash"/>), upstream_id, url, compression, file_size, nar_hash, nar_size, created_at</summary>
    public static UpstreamNarRecord UpstreamNar(DbDataReader reader, BlobDigest fileHash) => new(
        FileHash: fileHash,
        UpstreamId: reader.GetInt64(0),
        Url: reader.GetString(1),
        Compression: reader.GetString(2),
        FileSize: reader.GetInt64(3),
        NarHash: reader.GetString(4),
        NarSize: reader.GetInt64(5),
        CreatedAt: FromUnix(reader.GetInt64(6)));
}
