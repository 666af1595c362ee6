using Npgsql;
using NpgsqlTypes;

namespace Flywheel.Cache.Index.Postgres;

public sealed partial class PostgresMetadataStore
{
    private const string CreatePromotionSql =
        "INSERT INTO promotions (" + IndexRows.PromotionColumns + ") " +
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT (id) DO NOTHING";

    private const string CreatePromotionPathsSql =
        "INSERT INTO promotion_paths (promotion_id, cache_id, store_path_hash, store_path, position) " +
        "SELECT $1, $2, t.h, t.p, t.o - 1 FROM unnest($3::text[], $4::text[]) WITH ORDINALITY AS t(h, p, o) ON CONFLICT DO NOTHING";

    private const string GetPromotionSql = "SELECT " + IndexRows.PromotionColumns + " FROM promotions WHERE id = $1";

    private const string UpdatePromotionSql =
        "UPDATE promotions SET status = $1, class = $2, decision = $3, provenance = $4, publication = $5, error = $6, updated_at = $7 " +
        "WHERE id = $8 AND status = $9";

    // One statement for every combination of filters: an absent filter is NULL and matches all.
    private const string ListPromotionsSql =
        "SELECT " + IndexRows.PromotionColumns + " FROM promotions AS p " +
        "WHERE ($1::bigint IS NULL OR p.cache_id = $1) AND ($2::text IS NULL OR p.status = $2) " +
        "AND ($3::text IS NULL OR p.class = $3) AND ($4::text IS NULL OR p.repository = $4) " +
        "AND ($5::text IS NULL OR p.revision = $5) AND ($6::bigint IS NULL OR p.created_at < $6) " +
        "AND ($7::text IS NULL OR EXISTS (SELECT 1 FROM promotion_paths AS pp WHERE pp.promotion_id = p.id AND pp.store_path_hash = $7)) " +
        "ORDER BY p.created_at DESC, p.id COLLATE \"C\" DESC LIMIT $8";

    private const string PromotionPathsSql =
        "SELECT promotion_id, store_path_hash, store_path FROM promotion_paths WHERE promotion_id = ANY($1) ORDER BY promotion_id, position";

    public Task<bool> TryCreatePromotionAsync(PromotionRecord promotion, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(promotion);
        return RunAsync(promotion, static async (connection, p, ct) =>
        {
            await using var transaction = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
            await using (var insert = PostgresCommands.Create(connection, CreatePromotionSql)
                .With(p.Id).With(p.CacheId).With(p.Status).With(p.Class)
                .WithNullable(p.Target, NpgsqlDbType.Text).WithNullable(p.Repository, NpgsqlDbType.Text).WithNullable(p.Revision, NpgsqlDbType.Text)
                .With(p.Request).With(p.Decision)
                .WithNullable(p.Provenance, NpgsqlDbType.Text).WithNullable(p.Publication, NpgsqlDbType.Text).WithNullable(p.Error, NpgsqlDbType.Text)
                .With(ToUnix(p.CreatedAt)).With(ToUnix(p.UpdatedAt)))
            {
                insert.Transaction = transaction;
                if (await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 0)
                {
                    return false;
                }
            }

            await using (var paths = PostgresCommands.Create(connection, CreatePromotionPathsSql)
                .With(p.Id).With(p.CacheId)
                .With(p.Paths.Select(x => x.StorePathHash).ToArray()).With(p.Paths.Select(x => x.StorePath).ToArray()))
            {
                paths.Transaction = transaction;
                await paths.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            await transaction.CommitAsync(ct).ConfigureAwait(false);
            return true;
        }, cancellationToken);
    }

    public Task<PromotionRecord?> GetPromotionAsync(string id, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(id);
        return RunAsync(id, static async (connection, id, ct) =>
        {
            var found = await ReadPromotionsAsync(connection, PostgresCommands.Create(connection, GetPromotionSql).With(id), ct).ConfigureAwait(false);
            return found.Count == 0 ? null : found[0];
        }, cancellationToken);
    }

    public Task<bool> TryUpdatePromotionAsync(PromotionRecord promotion, string expectedStatus, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(promotion);
        ArgumentNullException.ThrowIfNull(expectedStatus);
        return RunAsync((promotion, expectedStatus), static async (connection, s, ct) =>
        {
            var p = s.promotion;
            await using var command = PostgresCommands.Create(connection, UpdatePromotionSql)
                .With(p.Status).With(p.Class).With(p.Decision)
                .WithNullable(p.Provenance, NpgsqlDbType.Text).WithNullable(p.Publication, NpgsqlDbType.Text).WithNullable(p.Error, NpgsqlDbType.Text)
                .With(ToUnix(p.UpdatedAt)).With(p.Id).With(s.expectedStatus);
            return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 1;
        }, cancellationToken);
    }

    public Task<IReadOnlyList<PromotionRecord>> ListPromotionsAsync(PromotionQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        return RunAsync(query, static (connection, q, ct) => ReadPromotionsAsync(connection, PostgresCommands.Create(connection, ListPromotionsSql)
            .WithNullable(q.CacheId, NpgsqlDbType.Bigint).WithNullable(q.Status, NpgsqlDbType.Text).WithNullable(q.Class, NpgsqlDbType.Text)
            .WithNullable(q.Repository, NpgsqlDbType.Text).WithNullable(q.Revision, NpgsqlDbType.Text)
            .WithNullable(ToUnix(q.CreatedBefore), NpgsqlDbType.Bigint).WithNullable(q.StorePathHash, NpgsqlDbType.Text)
            .With((long)Math.Max(0, q.Limit)), ct), cancellationToken);
    }

    /// <summary>Runs a promotion SELECT (disposing it) and reads the promotions' paths in one more statement.</summary>
    private static async Task<IReadOnlyList<PromotionRecord>> ReadPromotionsAsync(NpgsqlConnection connection, NpgsqlCommand select, CancellationToken ct)
    {
        var promotions = new List<PromotionRecord>();
        await using (select)
        await using (var reader = await select.ExecuteReaderAsync(ct).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                promotions.Add(IndexRows.Promotion(reader, []));
            }
        }

        if (promotions.Count == 0)
        {
            return promotions;
        }

        var paths = new Dictionary<string, List<PromotedPath>>(StringComparer.Ordinal);
        await using (var command = PostgresCommands.Create(connection, PromotionPathsSql).With(promotions.ConvertAll(p => p.Id).ToArray()))
        await using (var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
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
