using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Index.Sqlite;

public sealed partial class SqliteMetadataStore
{
    private const string GetActionResultSql =
        "SELECT result FROM action_results WHERE cache_id = @cache_id AND action_hash = @action_hash";

    private const string PutActionResultSql =
        "INSERT INTO action_results (cache_id, action_hash, result, size, created_at, last_access) " +
        "VALUES (@cache_id, @action_hash, @result, @size, @when, @when) " +
        "ON CONFLICT (cache_id, action_hash) DO UPDATE SET " +
        "result = excluded.result, size = excluded.size, created_at = excluded.created_at, last_access = excluded.last_access";

    // Each element is "<64 hex>/<size>"; as in FindMissingBlobsSql the answer is the array position, and
    // GROUP BY folds repeats of one (digest, size) into its first position.
    private const string FindMissingSizedBlobsSql =
        "SELECT MIN(j.key) FROM json_each(@blobs) AS j " +
        "WHERE NOT EXISTS (SELECT 1 FROM blobs WHERE blobs.digest = unhex(substr(j.value, 1, 64)) " +
        "AND blobs.size = CAST(substr(j.value, 66) AS INTEGER)) " +
        "GROUP BY j.value ORDER BY 1";

    // Access times only move forward, so late or repeated touches write nothing.
    private const string TouchActionResultsSql =
        "UPDATE action_results SET last_access = @when " +
        "WHERE cache_id = @cache_id AND action_hash IN (SELECT unhex(value) FROM json_each(@hashes)) AND last_access < @when";

    public Task TouchActionResultsAsync(
        long cacheId, IReadOnlyCollection<BlobDigest> actionHashes, DateTimeOffset when, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(actionHashes);
        if (actionHashes.Count == 0)
        {
            return Task.CompletedTask;
        }

        var list = actionHashes as IReadOnlyList<BlobDigest> ?? [.. actionHashes];
        return RunAsync((cacheId, json: SqliteJson.DigestArray(list), when), static (session, s) =>
        {
            var command = session.Command(TouchActionResultsSql, "@when", "@cache_id", "@hashes");
            command.Parameters[0].Value = ToUnix(s.when);
            command.Parameters[1].Value = s.cacheId;
            command.Parameters[2].Value = s.json;
            return command.ExecuteNonQuery();
        }, cancellationToken);
    }

    public Task<byte[]?> GetActionResultAsync(long cacheId, BlobDigest actionHash, CancellationToken cancellationToken) =>
        RunAsync((cacheId, actionHash), static (session, s) =>
        {
            var command = session.Command(GetActionResultSql, "@cache_id", "@action_hash");
            command.Parameters[0].Value = s.cacheId;
            command.Parameters[1].Value = s.actionHash.ToBytes();
            using var reader = command.ExecuteReader();
            return reader.Read() ? (byte[]?)reader.GetFieldValue<byte[]>(0) : null;
        }, cancellationToken);

    public Task PutActionResultAsync(
        long cacheId, BlobDigest actionHash, ReadOnlyMemory<byte> actionResult, DateTimeOffset when, CancellationToken cancellationToken) =>
        RunAsync((cacheId, actionHash, actionResult, when), static (session, s) =>
        {
            var command = session.Command(PutActionResultSql, "@cache_id", "@action_hash", "@result", "@size", "@when");
            var p = command.Parameters;
            p[0].Value = s.cacheId;
            p[1].Value = s.actionHash.ToBytes();
            p[2].Value = s.actionResult.ToArray();
            p[3].Value = (long)s.actionResult.Length;
            p[4].Value = ToUnix(s.when);
            command.ExecuteNonQuery();
            return true;
        }, cancellationToken);

    public Task<IReadOnlyList<int>> FindMissingSizedBlobsAsync(IReadOnlyList<SizedBlob> blobs, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(blobs);
        if (blobs.Count == 0)
        {
            return Task.FromResult<IReadOnlyList<int>>([]);
        }

        return RunAsync((blobs, json: SizedBlobArray(blobs)), static (session, s) =>
        {
            var command = session.Command(FindMissingSizedBlobsSql, "@blobs");
            command.Parameters[0].Value = s.json;
            var missing = new List<int>();
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                var position = reader.GetInt32(0);
                var blob = s.blobs[position];
                if (blob.Size != 0 || blob.Digest != BlobDigest.Empty)
                {
                    missing.Add(position);
                }
            }

            return (IReadOnlyList<int>)missing;
        }, cancellationToken);
    }

    /// <summary><c>["&lt;hex&gt;/&lt;size&gt;",…]</c>, built in one string without intermediate copies.</summary>
    private static string SizedBlobArray(IReadOnlyList<SizedBlob> blobs)
    {
        var length = 1;
        for (var i = 0; i < blobs.Count; i++)
        {
            var size = blobs[i].Size;
            if (size < 0)
            {
                throw new ArgumentOutOfRangeException(nameof(blobs), $"blob {blobs[i].Digest} has a negative size");
            }

            length += BlobDigest.HexLength + 4 + CountDigits(size); // "hex/size" and a comma or the closing bracket
        }

        return string.Create(length, blobs, static (span, list) =>
        {
            span[0] = '[';
            var position = 1;
            for (var i = 0; i < list.Count; i++)
            {
                span[position++] = '"';
                list[i].Digest.WriteHex(span.Slice(position, BlobDigest.HexLength));
                position += BlobDigest.HexLength;
                span[position++] = '/';
                list[i].Size.TryFormat(span[position..], out var written, default, System.Globalization.CultureInfo.InvariantCulture);
                position += written;
                span[position++] = '"';
                span[position++] = i == list.Count - 1 ? ']' : ',';
            }
        });
    }

    private static int CountDigits(long value)
    {
        var digits = 1;
        while (value >= 10)
        {
            value /= 10;
            digits++;
        }

        return digits;
    }
}
