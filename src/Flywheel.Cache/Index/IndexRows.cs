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

    /// <summary>id, name, is_public, priority, store_dir, signing_secret_key, public_key, retention_seconds, created_at</summary>
    public static CacheRecord Cache(DbDataReader reader) => new(
        Id: reader.GetInt64(0),
        Name: reader.GetString(1),
        IsPublic: reader.GetBoolean(2),
        Priority: reader.GetInt32(3),
        StoreDir: reader.GetString(4),
        SigningSecretKey: reader.GetString(5),
        PublicKey: reader.GetString(6),
        Retention: reader.IsDBNull(7) ? null : TimeSpan.FromSeconds(reader.GetInt64(7)),
        CreatedAt: FromUnix(reader.GetInt64(8)));

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
