namespace Flywheel.Cache;

/// <summary>
/// Text a client sent, as it may appear in an error message or a log line: never whole, so a 100 KB name neither
/// fills the log nor comes back in the answer.
/// </summary>
public static class ClientText
{
    /// <summary><paramref name="text"/> when it has at most <paramref name="max"/> characters, else its start and "…".</summary>
    public static string Clip(string? text, int max = 80) =>
        text is null ? "" : text.Length <= max ? text : string.Concat(text.AsSpan(0, max), "…");

    /// <inheritdoc cref="Clip(string?, int)"/>
    public static string Clip(ReadOnlySpan<char> text, int max = 80) =>
        text.Length <= max ? text.ToString() : string.Concat(text[..max], "…");
}
