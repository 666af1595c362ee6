namespace Flywheel.Cache.Index;

public abstract partial class MetadataIndex : IPromotionStore
{
    private const string CreatePromotionSql =
        "INSERT INTO promotions (" + IndexRows.PromotionColumns + ") " +
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT (id) DO NOTHING";

    // All paths in one statement, at their positions; WHERE true parts the join's ON from the upsert's (SQLite needs it).
    private static readonly DialectSql CreatePromotionPathsSql = new(d =>
        "INSERT INTO promotion_paths (promotion_id, cache_id, store_path_hash, store_path, position) " +
        $"SELECT $1, $2, h.value, p.value, h.ord - 1 FROM {d.StringList("$3", "h")} JOIN {d.StringList("$4", "p")} ON p.ord = h.ord " +
        "WHERE true ON CONFLICT DO NOTHING");

    private const string GetPromotionSql = "SELECT " + IndexRows.PromotionColumns + " FROM promotions WHERE id = $1";

    private const string UpdatePromotionSql =
        "UPDATE promotions SET status = $1, class = $2, decision = $3, provenance = $4, publication = $5, error = $6, updated_at = $7 " +
        "WHERE id = $8 AND status = $9";

    // One statement for every combination of filters: an absent filter is NULL and matches all.
    private static readonly DialectSql ListPromotionsSql = new(d =>
        "SELECT " + IndexRows.PromotionColumns + " FROM promotions AS p " +
        "WHERE (CAST($1 AS BIGINT) IS NULL OR p.cache_id = $1) AND (CAST($2 AS TEXT) IS NULL OR p.status = $2) " +
        "AND (CAST($3 AS TEXT) IS NULL OR p.class = $3) AND (CAST($4 AS TEXT) IS NULL OR p.repository = $4) " +
        "AND (CAST($5 AS TEXT) IS NULL OR p.revision = $5) AND (CAST($6 AS BIGINT) IS NULL OR p.created_at < $6) " +
        "AND (CAST($7 AS TEXT) IS NULL OR EXISTS (SELECT 1 FROM promotion_paths AS pp WHERE pp.promotion_id = p.id AND pp.store_path_hash = $7)) " +
        $"ORDER BY p.created_at DESC, p.id{d.Ordinal} DESC LIMIT $8");

    private static readonly DialectSql PromotionPathsSql = new(d =>
        "SELECT promotion_id, store_path_hash, store_path FROM promotion_paths " +
        $"WHERE promotion_id IN (SELECT ids.value FROM {d.StringList("$1", "ids")}) ORDER BY promotion_id, position");

    public Task<bool> TryCreatePromotionAsync(PromotionRecord promotion, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(promotion);
        return UseConnectionAsync((promotion, paths: CreatePromotionPathsSql.For(Dialect)), static (connection, s, ct) =>
            connection.InTransactionAsync(s, static async (connection, s, ct) =>
            {
                var inserted = await connection.ExecuteAsync(CreatePromotionSql, s.promotion, static (c, p) => c
                    .Add(p.Id).Add(p.CacheId).Add(p.Status).Add(p.Class).AddNullable(p.Target).AddNullable(p.Repository).AddNullable(p.Revision)
                    .Add(p.Request).Add(p.Decision).AddNullable(p.Provenance).AddNullable(p.Publication).AddNullable(p.Error)
                    .Add(p.CreatedAt).Add(p.UpdatedAt), ct).ConfigureAwait(false);
                if (inserted == 0)
                {
                    return false;
                }

                await connection.ExecuteAsync(s.paths, s.promotion, static (c, p) => c
                    .Add(p.Id).Add(p.CacheId).AddStrings(p.Paths.Select(x => x.StorePathHash).ToList()).AddStrings(p.Paths.Select(x => x.StorePath).ToList()),
                    ct).ConfigureAwait(false);
                return true;
            }, ct), cancellationToken);
    }

    public Task<PromotionRecord?> GetPromotionAsync(string id, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(id);
        return UseConnectionAsync((id, paths: PromotionPathsSql.For(Dialect)), static async (connection, s, ct) =>
        {
            var found = await connection.QueryAsync(GetPromotionSql, s.id, static (c, id) => c.Add(id), ReadPromotion, ct).ConfigureAwait(false);
            return found.Count == 0 ? null : (await WithPathsAsync(connection, s.paths, found, ct).ConfigureAwait(false))[0];
        }, cancellationToken);
    }

    public async Task<bool> TryUpdatePromotionAsync(PromotionRecord promotion, string expectedStatus, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(promotion);
        ArgumentNullException.ThrowIfNull(expectedStatus);
        return await ExecuteAsync(UpdatePromotionSql, (promotion, expectedStatus), static (c, s) => c
            .Add(s.promotion.Status).Add(s.promotion.Class).Add(s.promotion.Decision)
            .AddNullable(s.promotion.Provenance).AddNullable(s.promotion.Publication).AddNullable(s.promotion.Error)
            .Add(s.promotion.UpdatedAt).Add(s.promotion.Id).Add(s.expectedStatus), cancellationToken).ConfigureAwait(false) == 1;
    }

    public Task<IReadOnlyList<PromotionRecord>> ListPromotionsAsync(PromotionQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        return UseConnectionAsync((query, list: ListPromotionsSql.For(Dialect), paths: PromotionPathsSql.For(Dialect)), static async (connection, s, ct) =>
        {
            var found = await connection.QueryAsync(s.list, s.query, static (c, q) => c
                .AddNullable(q.CacheId).AddNullable(q.Status).AddNullable(q.Class).AddNullable(q.Repository).AddNullable(q.Revision)
                .AddNullable(q.CreatedBefore).AddNullable(q.StorePathHash).Add((long)Math.Max(0, q.Limit)), ReadPromotion, ct).ConfigureAwait(false);
            return await WithPathsAsync(connection, s.paths, found, ct).ConfigureAwait(false);
        }, cancellationToken);
    }

    private static PromotionRecord ReadPromotion(IndexConnection connection, System.Data.Common.DbDataReader reader) => IndexRows.Promotion(reader, []);

    /// <summary>The promotions with their paths, read in one statement.</summary>
    private static async Task<IReadOnlyList<PromotionRecord>> WithPathsAsync(
        IndexConnection connection, string sql, List<PromotionRecord> promotions, CancellationToken cancellationToken)
    {
        if (promotions.Count == 0)
        {
            return promotions;
        }

        var rows = await connection.QueryAsync(sql, promotions, static (c, p) => c.AddStrings(p.ConvertAll(x => x.Id)),
            static (_, r) => (Id: r.GetString(0), Path: new PromotedPath(r.GetString(1), r.GetString(2))), cancellationToken).ConfigureAwait(false);
        var paths = rows.GroupBy(r => r.Id, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Select(r => r.Path).ToList(), StringComparer.Ordinal);
        return promotions.ConvertAll(p => p with { Paths = paths.TryGetValue(p.Id, out var list) ? list : [] });
    }
}
