using System.Text;
using System.Text.RegularExpressions;

namespace Flywheel.Cache.Tests.Infrastructure;

/// <summary>
/// No test passes without testing: a missing component fails the test with a message that names it and how to
/// install it (<see cref="RequiredComponent"/>), and the test sources hold none of the patterns that used to let a
/// test go green without its component (an early return, or a CI-only failure).
/// </summary>
public sealed partial class NoSilentPassTests
{
    private static readonly string RepoRoot = RepositoryRoot.Folder;

    [Fact]
    public void A_missing_program_fails_naming_it_and_how_to_install_it()
    {
        var e = Assert.Throws<MissingComponentException>(() => RequiredComponent.Program("flywheel-no-such-tool", "flywheel-no-such-package"));

        Assert.Contains("flywheel-no-such-tool", e.Message, StringComparison.Ordinal);
        Assert.Contains("apt-get install flywheel-no-such-package", e.Message, StringComparison.Ordinal);
        Assert.Contains(RequiredComponent.TestCommand, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_program_on_path_is_found_with_its_full_path()
    {
        Assert.Equal("sh", Path.GetFileName(RequiredComponent.Program("sh", "dash")));
        Assert.True(Path.IsPathRooted(RequiredComponent.Program("sh", "dash")));
    }

    [Fact]
    public void No_test_method_returns_early()
    {
        var found = new List<string>();
        foreach (var (file, source) in TestSources())
        {
            foreach (var line in EarlyReturns(Code(source)))
            {
                found.Add($"{file}:{line}");
            }
        }

        Assert.True(found.Count == 0,
            "A test method returns early, so it can pass without checking anything (e.g. when a component is missing); " +
            "require the component (RequiredComponent) or split the test instead: " + string.Join(", ", found));
    }

    [Fact]
    public void No_test_decides_by_the_CI_variable()
    {
        var found = TestSources().Where(s => CiVariable().IsMatch(s.Source)).Select(s => s.File).ToList();

        Assert.True(found.Count == 0,
            "A test reads the CI variable: a missing component must fail everywhere, not only in CI: " + string.Join(", ", found));
    }

    [Fact]
    public void The_checks_find_an_early_return_after_a_missing_component()
    {
        const string code = """
            public class T
            {
                [Fact]
                public void Checks_something()
                {
                    var tool = Find("nix"); // "{ quoted braces }" are not code
                    if (tool is null)
                    {
                        return;
                    }

                    Handler(c => { if (c) { return; } });
                }

                [Theory]
                [InlineData(1)]
                public void Fine(int x) { Handler(() => { return; }); void Local() { return; } }
            }
            """;

        Assert.Equal([9], EarlyReturns(Code(code)));
        Assert.Matches(CiVariable(), "Environment.GetEnvironmentVariable(\"CI\")");
    }

    /// <summary>
    /// Lines of <c>return;</c> statements that end a [Fact] or [Theory] method early: in its body or in blocks of
    /// if/else/loops/try/using/switch inside it, not in lambdas or local functions.
    /// </summary>
    private static List<int> EarlyReturns(string code)
    {
        var lines = new List<int>();
        foreach (Match attribute in TestAttribute().Matches(code))
        {
            var open = code.IndexOf('{', attribute.Index);
            var arrow = code.IndexOf("=>", attribute.Index, StringComparison.Ordinal);
            if (open < 0 || (arrow >= 0 && arrow < open))
            {
                continue; // an expression-bodied test has no statements to return from
            }

            var controlFlow = new Stack<bool>();
            controlFlow.Push(true);
            for (var i = open + 1; i < code.Length && controlFlow.Count > 0; i++)
            {
                switch (code[i])
                {
                    case '{':
                        controlFlow.Push(controlFlow.Peek() && ControlFlowHeader().IsMatch(HeaderBefore(code, i)));
                        break;
                    case '}':
                        controlFlow.Pop();
                        break;
                    case 'r' when controlFlow.Peek() && IsReturnStatement(code, i):
                        lines.Add(1 + code.AsSpan(0, i).Count('\n'));
                        break;
                }
            }
        }

        return lines;
    }

    /// <summary>Whether a bare <c>return;</c> starts at <paramref name="i"/>.</summary>
    private static bool IsReturnStatement(string code, int i)
    {
        if (!code.AsSpan(i).StartsWith("return") || (i > 0 && (char.IsLetterOrDigit(code[i - 1]) || code[i - 1] == '_')))
        {
            return false;
        }

        var rest = code.AsSpan(i + "return".Length).TrimStart();
        return rest.Length > 0 && rest[0] == ';';
    }

    /// <summary>The text between the statement before <paramref name="brace"/> and it: <c>if (x)</c>, <c>else</c>, <c>c =&gt;</c>, …</summary>
    private static string HeaderBefore(string code, int brace)
    {
        var start = code.LastIndexOfAny([';', '{', '}'], brace - 1) + 1;
        return code[start..brace].Trim();
    }

    private static IEnumerable<(string File, string Source)> TestSources() =>
        Directory.EnumerateFiles(Path.Combine(RepoRoot, "tests"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                        && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                        && Path.GetFileName(f) != nameof(NoSilentPassTests) + ".cs")
            .Select(f => (Path.GetRelativePath(RepoRoot, f), File.ReadAllText(f)));

    /// <summary>C# source with comments and the contents of string and char literals blanked out (lines kept), so braces and words in them are not code.</summary>
    private static string Code(string source)
    {
        var code = new StringBuilder(source.Length);
        var i = 0;
        while (i < source.Length)
        {
            var end = LiteralOrCommentEnd(source, i);
            if (end == i)
            {
                code.Append(source[i++]);
                continue;
            }

            for (; i < end; i++)
            {
                code.Append(source[i] == '\n' ? '\n' : ' ');
            }
        }

        return code.ToString();
    }

    /// <summary>Where the comment or literal starting at <paramref name="i"/> ends, or <paramref name="i"/> when none starts there.</summary>
    private static int LiteralOrCommentEnd(string s, int i)
    {
        if (s.AsSpan(i).StartsWith("//"))
        {
            var eol = s.IndexOf('\n', i);
            return eol < 0 ? s.Length : eol;
        }

        if (s.AsSpan(i).StartsWith("/*"))
        {
            var close = s.IndexOf("*/", i + 2, StringComparison.Ordinal);
            return close < 0 ? s.Length : close + 2;
        }

        if (s[i] == '\'')
        {
            var j = i + 1;
            while (j < s.Length && s[j] != '\'')
            {
                j += s[j] == '\\' ? 2 : 1;
            }

            return Math.Min(j + 1, s.Length);
        }

        var q = i;
        while (q < s.Length && s[q] is '$' or '@')
        {
            q++;
        }

        if (q >= s.Length || s[q] != '"')
        {
            return i;
        }

        var quotes = 0;
        while (q + quotes < s.Length && s[q + quotes] == '"')
        {
            quotes++;
        }

        if (quotes >= 3)
        {
            var close = s.IndexOf(new string('"', quotes), q + quotes, StringComparison.Ordinal);
            return close < 0 ? s.Length : close + quotes;
        }

        var verbatim = s.AsSpan(i, q - i).Contains('@');
        var k = q + 1;
        while (k < s.Length)
        {
            if (s[k] == '"')
            {
                if (verbatim && k + 1 < s.Length && s[k + 1] == '"')
                {
                    k += 2;
                    continue;
                }

                return k + 1;
            }

            k += !verbatim && s[k] == '\\' ? 2 : 1;
        }

        return s.Length;
    }

    [GeneratedRegex(@"\[\w*(Fact|Theory)\b")]
    private static partial Regex TestAttribute();

    [GeneratedRegex(@"^(if\b|else\b|for\b|foreach\b|while\b|do$|try$|catch\b|finally$|using\b|switch\b|case\b|default\b|lock\b|checked$|unchecked$|$)")]
    private static partial Regex ControlFlowHeader();

    [GeneratedRegex(@"GetEnvironmentVariable\(\s*""CI""\s*\)")]
    private static partial Regex CiVariable();
}
