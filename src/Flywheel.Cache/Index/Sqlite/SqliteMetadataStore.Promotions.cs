using Microsoft.Data.Sqlite;

namespace Flywheel.Cache.Index.Sqlite;

public sealed partial class SqliteMetadataStore
{
    private const string CreatePromotionSql =
        "INSERT INTO promotions (" + IndexRows.PromotionColumns + ") " +
        "VALUES (@id, @cache_id, @status, @class, @target, @repository, @revision, @request, @decision, @provenance, @publication, @error, @created_at, @updated_at) " +
        "ON CONFLICT (id) DO NOTHING";

    private const string CreatePromotionPathSql =
        "INSERT INTO promotion_paths (promotion_id, cache_id, store_path_hash, store_path, position) " +
        "VALUES (@promotion_id, @cache_id, @store_path_hash, @store_path, @position) ON CONFLICT DO NOTHING";

    private const string GetPromotionSql = "SELECT " + IndexRows.PromotionColumns + " FROM promotions WHERE id = @id";

    private const string UpdatePromotionSql =
        "UPDATE promotions SET status = @status, class = @class, decision = @decision, provenance = @provenance, " +
        "publication = @publication, error = @error, updated_at = @updated_at WHERE id = @id AND status = @expected";

    // One statement for every combination of filters: an absent filter is NULL and matches all.
    private const string ListPromotionsSql =
        "SELECT " + IndexRows.PromotionColumns + " FROM promotions AS p " +
        "WHERE (@cache_id IS NULL OR p.cache_id = @cache_id) AND (@status IS NULL OR p.status = @status) " +
        "AND (@class IS NULL OR p.class = @class) AND (@repository IS NULL OR p.repository = @repository) " +
        "AND (@revision IS NULL OR p.revision = @revision) AND (@before IS NULL OR p.created_at < @before) " +
        "AND (@hash IS NULL OR EXISTS (SELECT 1 FROM promotion_paths AS pp WHERE pp.promotion_id = p.id AND pp.store_path_hash = @hash)) " +
        "ORDER BY p.created_at DESC, p.id DESC LIMIT @limit";

    private const string PromotionPathsSql =
        "SELECT promotion_id, store_path_hash, store_path FROM promotion_paths " +
        "WHERE promotion_id IN (SELECT value FROM json_each(@ids)) ORDER BY promotion_id, position";

    public Task<bool> TryCreatePromotionAsync(PromotionRecord promotion, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(promotion);
        return RunAsync(promotion, static (session, p) =>
        {
            using var transaction = session.Connection.BeginTransaction(deferred: false);
            var insert = session.Command(CreatePromotionSql,
                "@id", "@cache_id", "@status", "@class", "@target", "@repository", "@revision", "@request", "@decision",
                "@provenance", "@publication", "@error", "@created_at", "@updated_at");
            insert.Transaction = transaction;
            var v = insert.Parameters;
            v[0].Value = p.Id;
            v[1].Value = p.CacheId;
            v[2].Value = p.Status;
            v[3].Value = p.Class;
            v[4].Value = OrNull(p.Target);
            v[5].Value = OrNull(p.Repository);
            v[6].Value = OrNull(p.Revision);
            v[7].Value = p.Request;
            v[8].Value = p.Decision;
            v[9].Value = OrNull(p.Provenance);
            v[10].Value = OrNull(p.Publication);
            v[11].Value = OrNull(p.Error);
            v[12].Value = ToUnix(p.CreatedAt);
            v[13].Value = ToUnix(p.UpdatedAt);
            if (insert.ExecuteNonQuery() == 0)
            {
                return false;
            }

            var path = session.Command(CreatePromotionPathSql, "@promotion_id", "@cache_id", "@store_path_hash", "@store_path", "@position");
            path.Transaction = transaction;
            for (var i = 0; i < p.Paths.Count; i++)
            {
                path.Parameters[0].Value = p.Id;
                path.Parameters[1].Value = p.CacheId;
                path.Parameters[2].Value = p.Paths[i].StorePathHash;
                path.Parameters[3].Value = p.Paths[i].StorePath;
                path.Parameters[4].Value = i;
                path.ExecuteNonQuery();
            }

            transaction.Commit();
            return true;
        }, cancellationToken);
    }

    public Task<PromotionRecord?> GetPromotionAsync(string id, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(id);
        return RunAsync(id, static (session, id) =>
        {
            var command = session.Command(GetPromotionSql, "@id");
            command.Parameters[0].Value = id;
            PromotionRecord promotion;
            using (var reader = command.ExecuteReader())
            {
                if (!reader.Read())
                {
                    return null;
                }

                promotion = IndexRows.Promotion(reader, []);
            }

            return WithPaths(session, [promotion])[0];
        }, cancellationToken);
    }

    public Task<bool> TryUpdatePromotionAsync(PromotionRecord promotion, string expectedStatus, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(promotion);
        ArgumentNullException.ThrowIfNull(expectedStatus);
        return RunAsync((promotion, expectedStatus), static (session, s) =>
        {
            var p = s.promotion;
            var command = session.Command(UpdatePromotionSql,
                "@status", "@class", "@decision", "@provenance", "@publication", "@error", "@updated_at", "@id", "@expected");
            var v = command.Parameters;
            v[0].Value = p.Status;
            v[1].Value = p.Class;
            v[2].Value = p.Decision;
            v[3].Value = OrNull(p.Provenance);
            v[4].Value = OrNull(p.Publication);
            v[5].Value = OrNull(p.Error);
            v[6].Value = ToUnix(p.UpdatedAt);
            v[7].Value = p.Id;
            v[8].Value = s.expectedStatus;
            return command.ExecuteNonQuery() == 1;
        }, cancellationToken);
    }

    public Task<IReadOnlyList<PromotionRecord>> ListPromotionsAsync(PromotionQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        return RunAsync(query, static (session, q) =>
        {
            var command = session.Command(ListPromotionsSql,
                "@cache_id", "@status", "@class", "@repository", "@revision", "@before", "@hash", "@limit");
            var v = command.Parameters;
            v[0].Value = OrNull(q.CacheId);
            v[1].Value = OrNull(q.Status);
            v[2].Value = OrNull(q.Class);
            v[3].Value = OrNull(q.Repository);
            v[4].Value = OrNull(q.Revision);
            v[5].Value = OrNull(ToUnix(q.CreatedBefore));
            v[6].Value = OrNull(q.StorePathHash);
            v[7].Value = Math.Max(0, q.Limit);
            var promotions = new List<PromotionRecord>();
            using (var reader = command.ExecuteReader())
            {
                while (reader.Read())
                {
                    promotions.Add(IndexRows.Promotion(reader, []));
                }
            }

            return WithPaths(session, promotions);
        }, cancellationToken);
    }

    /// <summary>The promotions with their paths, read in one statement.</summary>
    private static IReadOnlyList<PromotionRecord> WithPaths(SqliteSession session, List<PromotionRecord> promotions)
    {
        if (promotions.Count == 0)
        {
            return promotions;
        }

        var command = session.Command(PromotionPathsSql, "@ids");
        command.Parameters[0].Value = SqliteJson.StringArray(promotions.ConvertAll(p => p.Id));
        var paths = new Dictionary<string, List<PromotedPath>>(StringComparer.Ordinal);
        using (SqliteDataReader reader = command.ExecuteReader())
        {
            while (reader.Read())
            {
                var id = reader.GetString(0);
                if (!paths.TryGetValue(id, out var list))
                {
                    paths[id] = list = [];
                }

                list.Add(new PromotedPath(reader.GetString(1), reader.GetString(2)));
            }
        }

        return promotions.ConvertAll(p => p with { Paths = paths.TryGetValue(p.Id, out var list) ? list : [] });
    }
}
