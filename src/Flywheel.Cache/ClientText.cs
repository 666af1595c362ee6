namespace Flywheel.Cache;

/// <summary>
/// Client-supplied text as it may appear in an error message or a log line: quoted and cut to a short prefix, so a
/// huge name or field is never echoed back or logged in full.
/// </summary>
public static class ClientText
{
    /// <summary>The most characters of a client's text quoted; longer text ends in an ellipsis with its length.</summary>
    public const int MaxQuoted = 100;

    /// <summary><c>'text'</c>, or <c>'prefix…' (N characters)</c> when longer than <see cref="MaxQuoted"/>.</summary>
    public static string Quote(string? text) =>
        text is null ? "''"
        : text.Length <= MaxQuoted ? $"'{text}'"
        : $"'{text.AsSpan(0, MaxQuoted)}…' ({text.Length} characters)";

    /// <summary>The text itself when short, else its first <see cref="MaxQuoted"/> characters and an ellipsis (for log lines).</summary>
    [return: System.Diagnostics.CodeAnalysis.NotNullIfNotNull(nameof(text))]
    public static string? Cut(string? text) =>
        text is null || text.Length <= MaxQuoted ? text : string.Concat(text.AsSpan(0, MaxQuoted), "…");

    /// <inheritdoc cref="Cut(string?)"/>
    public static string Cut(ReadOnlySpan<char> text) =>
        text.Length <= MaxQuoted ? text.ToString() : string.Concat(text[..MaxQuoted], "…");
}
