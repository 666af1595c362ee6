using System.Reflection;

namespace Flywheel.Cache.Index.Migrations;

/// <summary>
/// One schema migration: an append-only, dated SQL script embedded in this assembly as
/// <c>migrations/&lt;dialect&gt;/&lt;yyyyMMdd_nnnn_name&gt;.sql</c>. The id (the file name without extension)
/// is what <c>schema_migrations</c> records, and is the same across dialects for the same change.
/// </summary>
public sealed record MigrationScript(string Id, string Sql)
{
    /// <summary>Every script of a dialect (<c>sqlite</c>, <c>postgres</c>), in the order they apply (by id).</summary>
    public static IReadOnlyList<MigrationScript> Load(string dialect)
    {
        var assembly = typeof(MigrationScript).Assembly;
        var prefix = $"migrations/{dialect.ToLowerInvariant()}/";
        var scripts = new List<MigrationScript>();
        foreach (var name in assembly.GetManifestResourceNames())
        {
            if (!name.StartsWith(prefix, StringComparison.Ordinal) || !name.EndsWith(".sql", StringComparison.Ordinal))
            {
                continue;
            }

            scripts.Add(new MigrationScript(name[prefix.Length..^4], Read(assembly, name)));
        }

        scripts.Sort(static (a, b) => string.CompareOrdinal(a.Id, b.Id));
        return scripts;
    }

    private static string Read(Assembly assembly, string name)
    {
        using var stream = assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"migration resource '{name}' is missing");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
