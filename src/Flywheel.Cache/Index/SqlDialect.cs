namespace Flywheel.Cache.Index;

/// <summary>
/// What really differs between the index's two SQL dialects, named once. Everything else in a statement (INSERT …
/// ON CONFLICT, RETURNING, CTEs, <c>$n</c> parameters) is written once, with these pieces in it where needed
/// (<see cref="DialectSql"/>). Parameter binding differs too, behind <see cref="IndexCommand"/>; the schema's
/// BLOB vs BYTEA and rowid vs identity live in the two folders of migrations.
/// </summary>
public sealed class SqlDialect
{
    /// <summary>
    /// SQLite: binary collation by default; lists travel as one JSON array text (<c>json_each</c>, digests as hex);
    /// one writer at a time, so no row locks.
    /// </summary>
    public static readonly SqlDialect Sqlite = new(
        "sqlite",
        ordinal: "",
        list: static (parameter, alias, type) =>
            $"(SELECT {(type == "bytea" ? "unhex(value)" : "value")} AS value, key + 1 AS ord FROM json_each({parameter})) AS {alias}",
        rowLock: static _ => "");

    /// <summary>
    /// PostgreSQL: the database's collation is not byte order; lists travel as array parameters; many writers at
    /// once, so statements that claim or delete rows lock them.
    /// </summary>
    public static readonly SqlDialect Postgres = new(
        "postgres",
        ordinal: " COLLATE \"C\"",
        list: static (parameter, alias, type) => $"unnest({parameter}::{type}[]) WITH ORDINALITY AS {alias}(value, ord)",
        rowLock: static clause => " " + clause);

    private readonly Func<string, string, string, string> _list;
    private readonly Func<string, string> _rowLock;

    private SqlDialect(string name, string ordinal, Func<string, string, string, string> list, Func<string, string> rowLock)
    {
        Name = name;
        Ordinal = ordinal;
        _list = list;
        _rowLock = rowLock;
    }

    /// <summary>The dialect's folder of migrations (<c>Index/Migrations/&lt;Name&gt;/</c>).</summary>
    public string Name { get; }

    /// <summary>Appended to a text column in ORDER BY so that it sorts in byte (ordinal) order.</summary>
    public string Ordinal { get; }

    /// <summary>
    /// A FROM item of the strings of a list parameter (<see cref="IndexCommand.AddStrings"/>) as rows of
    /// <c>value</c> and <c>ord</c> (its 1-based position), named <paramref name="alias"/>.
    /// </summary>
    public string StringList(string parameter, string alias) => _list(parameter, alias, "text");

    /// <summary>The same for a list of digests (<see cref="IndexCommand.AddDigests"/>); <c>value</c> is the digest's bytes.</summary>
    public string DigestList(string parameter, string alias) => _list(parameter, alias, "bytea");

    /// <summary>The same for a list of integers (<see cref="IndexCommand.AddLongs"/>).</summary>
    public string LongList(string parameter, string alias) => _list(parameter, alias, "bigint");

    /// <summary>
    /// A row-locking clause (<c>FOR UPDATE SKIP LOCKED</c>, <c>FOR UPDATE OF b</c>) where the dialect has concurrent
    /// writers (PostgreSQL); nothing in SQLite, whose writes run one at a time.
    /// </summary>
    public string RowLock(string clause) => _rowLock(clause);

    public override string ToString() => Name;
}

/// <summary>
/// A statement whose text depends on the dialect (<see cref="SqlDialect"/>'s named pieces): written once, its two
/// texts made once at start, so that each is a constant a prepared-statement cache recognizes.
/// </summary>
internal sealed class DialectSql(Func<SqlDialect, string> write)
{
    private readonly string _sqlite = write(SqlDialect.Sqlite);
    private readonly string _postgres = write(SqlDialect.Postgres);

    public string For(SqlDialect dialect) => ReferenceEquals(dialect, SqlDialect.Postgres) ? _postgres : _sqlite;
}
