using Flywheel.Cache.Index;

namespace Flywheel.Cache.Tokens;

/// <summary>The names of scopes as users write them (<c>pull,push,admin</c>).</summary>
public static class TokenScopeNames
{
    private static readonly (string Name, TokenScopes Scope)[] Names =
    [
        ("pull", TokenScopes.Pull),
        ("push", TokenScopes.Push),
        ("admin", TokenScopes.Admin),
        ("promote", TokenScopes.Promote),
    ];

    public static TokenScopes Parse(string text)
    {
        var scopes = TokenScopes.None;
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var found = Array.Find(Names, n => string.Equals(n.Name, part, StringComparison.OrdinalIgnoreCase));
            if (found.Name is null)
            {
                throw CacheException.Invalid($"unknown scope {ClientText.Quote(part)}: use {string.Join(", ", Names.Select(n => n.Name))}");
            }

            scopes |= found.Scope;
        }

        return scopes == TokenScopes.None ? throw CacheException.Invalid("a token needs at least one scope") : scopes;
    }

    public static string Format(TokenScopes scopes) =>
        string.Join(',', Names.Where(n => scopes.HasFlag(n.Scope)).Select(n => n.Name));

    public static IReadOnlyList<string> ToList(TokenScopes scopes) =>
        Names.Where(n => scopes.HasFlag(n.Scope)).Select(n => n.Name).ToArray();
}
