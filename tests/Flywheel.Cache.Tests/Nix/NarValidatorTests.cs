using System.Text;
using Flywheel.Cache.Nix;
using Flywheel.Cache.Tests.Server;
using FsCheck;
using FsCheck.Fluent;

namespace Flywheel.Cache.Tests.Nix;

/// <summary>The streaming NAR check of uploads: every valid NAR passes in any chunking, anything else is refused.</summary>
public class NarValidatorTests
{
    /// <summary>NARs real Nix wrote (the uncompressed fixture cache): files, directories, symlinks, executables.</summary>
    private static IEnumerable<byte[]> RealNars() =>
        NixFixtures.NarInfos(Flywheel.Cache.Compression.NarCompression.None)
            .Select(x => File.ReadAllBytes(Path.Combine(NixFixtures.CacheDir(Flywheel.Cache.Compression.NarCompression.None), NarInfo.Parse(x.Text).Url)));

    private static Gen<byte[]> ValidNar =>
        from files in Gen.Choose(1, 6).SelectMany(n =>
            (from path in Gen.Elements("a", "b", "bin/x", "bin/y", "lib/z/deep", "Z", "é", "a.b", "a-b")
             from kind in Gen.Choose(0, 3)
             from size in Gen.Choose(0, 40)
             select (path, kind, size)).ArrayOf(n))
        let unique = files.GroupBy(f => f.path).Select(g => g.First())
            .Where(f => !files.Any(o => o.path != f.path && (o.path.StartsWith(f.path + "/", StringComparison.Ordinal) || f.path.StartsWith(o.path + "/", StringComparison.Ordinal))))
            .ToDictionary(f => f.path, f => f.kind switch
            {
                0 => NarBuilder.Node.File(new string('x', f.size)),
                1 => NarBuilder.Node.File(new string('y', f.size), executable: true),
                2 => NarBuilder.Node.Symlink("../target/" + f.size),
                _ => NarBuilder.Node.File(new byte[f.size]),
            })
        select unique.Count == 0 ? NarBuilder.RegularFile(new byte[files.Length]) : NarBuilder.Directory(unique);

    private static void Validate(byte[] nar, int chunk)
    {
        var validator = new NarValidator();
        for (var i = 0; i < nar.Length; i += chunk)
        {
            validator.Append(nar.AsSpan(i, Math.Min(chunk, nar.Length - i)));
        }

        validator.Complete();
    }

    private static CacheException Refused(byte[] nar, int chunk = int.MaxValue)
    {
        var ex = Assert.Throws<CacheException>(() => Validate(nar, chunk));
        Assert.Equal(CacheError.Invalid, ex.Error);
        return ex;
    }

    [Fact]
    public void Real_Nix_NARs_pass_in_any_chunking()
    {
        foreach (var nar in RealNars())
        {
            foreach (var chunk in new[] { 1, 3, 8, 13, 4096, int.MaxValue })
            {
                Validate(nar, chunk);
            }
        }
    }

    [Fact]
    public void Real_Nix_NARs_truncated_anywhere_or_followed_by_anything_are_refused()
    {
        foreach (var nar in RealNars())
        {
            for (var length = 0; length < nar.Length; length += Math.Max(1, nar.Length / 200))
            {
                Refused(nar[..length]);
            }

            Refused(nar[..^1]);
            Assert.Contains("ends early", Refused(nar[..^8]).Message);
            Assert.Contains("after the end", Refused([.. nar, 0]).Message);
            Assert.Contains("after the end", Refused([.. nar, .. nar], 7).Message);
        }
    }

    [Fact]
    public void Generated_NARs_pass_and_their_truncations_and_extensions_do_not() =>
        Prop.ForAll(ValidNar.ToArbitrary(), Gen.Choose(1, 64).ToArbitrary(), Gen.Choose(1, 16).ToArbitrary(), (nar, chunk, junk) =>
        {
            Validate(nar, chunk);
            var cut = nar.Length * chunk / 65;
            Assert.Throws<CacheException>(() => Validate(nar[..cut], chunk));
            Assert.Throws<CacheException>(() => Validate([.. nar, .. new byte[junk]], chunk));
        }).QuickCheckThrowOnFailure();

    [Theory]
    [InlineData("unsorted", "not sorted")]
    [InlineData("duplicate", "not sorted")]
    [InlineData(".", "invalid entry name")]
    [InlineData("..", "invalid entry name")]
    [InlineData("a/b", "invalid entry name")]
    [InlineData("nul", "invalid entry name")]
    [InlineData("empty", "invalid entry name")]
    public void Directory_entries_must_be_valid_and_strictly_ascending(string problem, string message)
    {
        string[] names = problem switch
        {
            "unsorted" => ["b", "a"],
            "duplicate" => ["a", "a"],
            "nul" => ["a\0b"],
            "empty" => [""],
            _ => [problem],
        };
        using var nar = new MemoryStream();
        NarBuilder.Str(nar, "nix-archive-1");
        foreach (var t in new[] { "(", "type", "directory" })
        {
            NarBuilder.Str(nar, t);
        }

        foreach (var name in names)
        {
            foreach (var t in new[] { "entry", "(", "name", name, "node", "(", "type", "symlink", "target", "x", ")", ")" })
            {
                NarBuilder.Str(nar, t);
            }
        }

        NarBuilder.Str(nar, ")");
        Assert.Contains(message, Refused(nar.ToArray()).Message);
    }

    [Fact]
    public void Padding_must_be_zero_and_tokens_must_follow_the_grammar()
    {
        var valid = NarBuilder.RegularFile("hello");
        var badPadding = valid.ToArray();
        badPadding[Array.LastIndexOf(badPadding, (byte)'o') + 1] = 1; // the byte after "hello" is padding
        Assert.Contains("padding", Refused(badPadding).Message);

        var text = Encoding.Latin1.GetString(valid);
        Assert.Contains("node type", Refused(Encoding.Latin1.GetBytes(text.Replace("regular", "regulax"))).Message);
        Assert.Contains("nix-archive-1", Refused(Encoding.Latin1.GetBytes(text.Replace("archive", "arXhive"))).Message);
        Assert.Contains("nix-archive-1", Refused("this is plain text, well over twenty-four bytes long"u8.ToArray()).Message);
        Assert.Contains("no NAR data", Refused([]).Message);

        var huge = new byte[24 + 8];
        valid.AsSpan(0, 24).CopyTo(huge);
        BitConverter.TryWriteBytes(huge.AsSpan(24), ulong.MaxValue);
        Assert.Contains("2^63", Refused(huge).Message);
    }

    [Fact]
    public void Appending_chunks_does_not_allocate()
    {
        var nar = RealNars().OrderByDescending(n => n.Length).First();
        for (var round = 0; round < 2; round++)
        {
            var validator = new NarValidator();
            validator.Append(nar.AsSpan(0, 1));
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 1; i < nar.Length; i += 61)
            {
                validator.Append(nar.AsSpan(i, Math.Min(61, nar.Length - i)));
            }

            var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            validator.Complete();
            if (round == 1)
            {
                Assert.True(allocated == 0, $"{allocated} bytes allocated");
            }
        }
    }
}
