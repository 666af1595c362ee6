using Flywheel.Cache.Bazel;
using FsCheck;
using FsCheck.Fluent;

namespace Flywheel.Cache.Tests.Bazel;

public sealed class ResourceNameTests
{
    private static readonly BazelDigest Hello = BazelDigest.Compute("hello"u8);
    private static readonly string H = Hello.Hash.ToHex();

    [Theory]
    [InlineData("blobs/{h}/5", "", BlobCompressor.Identity)]
    [InlineData("main/blobs/{h}/5", "main", BlobCompressor.Identity)]
    [InlineData("team/a/b/blobs/{h}/5", "team/a/b", BlobCompressor.Identity)]
    [InlineData("main/blobs/{h}/5/some/metadata", "main", BlobCompressor.Identity)]
    [InlineData("compressed-blobs/zstd/{h}/5", "", BlobCompressor.Zstd)]
    [InlineData("x/compressed-blobs/zstd/{h}/5", "x", BlobCompressor.Zstd)]
    [InlineData("x/compressed-blobs/identity/{h}/5", "x", BlobCompressor.Identity)]
    public void Reads_parse(string name, string instance, BlobCompressor compressor)
    {
        Assert.True(ResourceName.TryParseRead(name.Replace("{h}", H), out var read, out var error), error);

        Assert.Equal(new ReadResource(instance, Hello, compressor), read);
    }

    [Theory]
    [InlineData("uploads/0f8fad5b-d9cb-469f-a165-70867728950e/blobs/{h}/5", "", BlobCompressor.Identity)]
    [InlineData("main/uploads/0f8fad5b-d9cb-469f-a165-70867728950e/blobs/{h}/5", "main", BlobCompressor.Identity)]
    [InlineData("a/b/uploads/0f8fad5b-d9cb-469f-a165-70867728950e/blobs/{h}/5/meta", "a/b", BlobCompressor.Identity)]
    [InlineData("main/uploads/0f8fad5b-d9cb-469f-a165-70867728950e/compressed-blobs/zstd/{h}/5", "main", BlobCompressor.Zstd)]
    [InlineData("main/uploads/0f8fad5b-d9cb-469f-a165-70867728950e/compressed-blobs/zstd/{h}/5/meta", "main", BlobCompressor.Zstd)]
    public void Writes_parse(string name, string instance, BlobCompressor compressor)
    {
        Assert.True(ResourceName.TryParseWrite(name.Replace("{h}", H), out var write, out var error), error);

        Assert.Equal(new WriteResource(instance, "0f8fad5b-d9cb-469f-a165-70867728950e", Hello, compressor), write);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("main/blobs/{h}", "ends before")]
    [InlineData("main/blobs/{h}/-5", "no valid digest")]
    [InlineData("main/blobs/{H}/5", "no valid digest")]
    [InlineData("main/blobs/sha256/{h}/5", "no valid digest")]
    [InlineData("main/blobs/blake3/{h}/5", "only SHA-256")]
    [InlineData("main/compressed-blobs/brotli/{h}/5", "unsupported compressor 'brotli'")]
    [InlineData("main/compressed-blobs/deflate/{h}/5", "unsupported compressor")]
    [InlineData("main/compressed-blobs/zstd/{h}/5/extra", "extra segments")]
    [InlineData("main/compressed-blobs", "no compressor")]
    [InlineData("/main/blobs/{h}/5", "empty path segment")]
    [InlineData("a//b/blobs/{h}/5", "empty path segment")]
    [InlineData("actions/blobs/{h}/5", "reserved word 'actions'")]
    [InlineData("x/capabilities/blobs/{h}/5", "reserved word 'capabilities'")]
    [InlineData("main/uploads/u/blobs/{h}/5", "not a blob to read")]
    [InlineData("main/{h}/5", "not a blob to read")]
    public void Bad_reads_say_what_is_wrong(string name, string problem)
    {
        Assert.False(ResourceName.TryParseRead(name.Replace("{h}", H).Replace("{H}", H.ToUpperInvariant()), out _, out var error));

        Assert.Contains(problem, error);
    }

    [Theory]
    [InlineData("main/blobs/{h}/5", "not an upload")]
    [InlineData("main/uploads", "no upload id")]
    [InlineData("main/uploads/blobs/{h}/5", "no upload id")]
    [InlineData("main/uploads/u", "needs 'blobs/'")]
    [InlineData("main/uploads/u/other/{h}/5", "needs 'blobs/'")]
    [InlineData("main/uploads/u/compressed-blobs/brotli/{h}/5", "unsupported compressor")]
    [InlineData("operations/uploads/u/blobs/{h}/5", "reserved word 'operations'")]
    [InlineData("main/uploads/u/blobs/{h}/x", "no valid digest")]
    public void Bad_writes_say_what_is_wrong(string name, string problem)
    {
        Assert.False(ResourceName.TryParseWrite(name.Replace("{h}", H), out _, out var error));

        Assert.Contains(problem, error);
    }

    [Fact]
    public void Formats_the_upstream_forms()
    {
        Assert.Equal($"main/blobs/{H}/5", ResourceName.FormatRead(new ReadResource("main", Hello, BlobCompressor.Identity)));
        Assert.Equal($"compressed-blobs/zstd/{H}/5", ResourceName.FormatRead(new ReadResource("", Hello, BlobCompressor.Zstd)));
        Assert.Equal($"a/b/uploads/u1/compressed-blobs/zstd/{H}/5", ResourceName.FormatWrite(new WriteResource("a/b", "u1", Hello, BlobCompressor.Zstd)));
        Assert.Throws<ArgumentException>(() => ResourceName.FormatRead(new ReadResource("a/blobs", Hello, BlobCompressor.Identity)));
        Assert.Throws<ArgumentException>(() => ResourceName.FormatWrite(new WriteResource("a", "x/y", Hello, BlobCompressor.Identity)));
    }

    // ---------------------------------------------------------------- properties

    private static readonly string[] Keywords = ["blobs", "uploads", "compressed-blobs", "actions", "actionResults", "operations", "capabilities"];

    private static Gen<string> Segment =>
        from length in Gen.Choose(1, 12)
        from chars in Gen.Elements("abcdefghijklmnopqrstuvwxyzABC0123456789-_.".ToCharArray()).ArrayOf(length)
        let s = new string(chars)
        where Array.IndexOf(Keywords, s) < 0
        select s;

    private static Gen<string> Instance =>
        from count in Gen.Choose(0, 4)
        from segments in Segment.ArrayOf(count)
        select string.Join('/', segments);

    private static Gen<BazelDigest> Digest =>
        from bytes in Gen.Choose(0, 255).ArrayOf(32)
        from size in Gen.OneOf(Gen.Choose(0, int.MaxValue).Select(i => (long)i), Gen.Constant(long.MaxValue), Gen.Constant(0L))
        select new BazelDigest(Flywheel.Cache.Storage.BlobDigest.FromBytes(bytes.Select(b => (byte)b).ToArray()), size);

    private static Gen<BlobCompressor> Compressor => Gen.Elements(BlobCompressor.Identity, BlobCompressor.Zstd);

    [Fact]
    public void Format_then_parse_read_round_trips() =>
        Prop.ForAll(
            (from i in Instance from d in Digest from c in Compressor select new ReadResource(i, d, c)).ToArbitrary(),
            read => ResourceName.TryParseRead(ResourceName.FormatRead(read), out var back, out _) && back == read)
        .QuickCheckThrowOnFailure();

    [Fact]
    public void Format_then_parse_write_round_trips() =>
        Prop.ForAll(
            (from i in Instance from u in Segment from d in Digest from c in Compressor select new WriteResource(i, u, d, c)).ToArbitrary(),
            write => ResourceName.TryParseWrite(ResourceName.FormatWrite(write), out var back, out _) && back == write)
        .QuickCheckThrowOnFailure();

    [Fact]
    public void A_write_name_is_never_a_read_name_and_the_other_way_round() =>
        Prop.ForAll(
            (from i in Instance from u in Segment from d in Digest from c in Compressor select (i, u, d, c)).ToArbitrary(),
            t => !ResourceName.TryParseRead(ResourceName.FormatWrite(new WriteResource(t.i, t.u, t.d, t.c)), out _, out _)
                 && !ResourceName.TryParseWrite(ResourceName.FormatRead(new ReadResource(t.i, t.d, t.c)), out _, out _))
        .QuickCheckThrowOnFailure();

    [Fact]
    public void Garbage_never_throws_and_failures_always_explain() =>
        Prop.ForAll<string>(garbage =>
        {
            var read = ResourceName.TryParseRead(garbage, out _, out var readError);
            var write = ResourceName.TryParseWrite(garbage, out _, out var writeError);
            return (read || readError.Length > 0) && (write || writeError.Length > 0);
        }).QuickCheckThrowOnFailure();

    [Fact]
    public void Mangled_valid_names_never_throw() =>
        Prop.ForAll(
            (from i in Instance
             from d in Digest
             from cut in Gen.Choose(0, 200)
             from junk in Gen.Elements("/", "//", "blobs", "uploads/", "zstd", "-1", "x", "").ArrayOf(3)
             let name = ResourceName.FormatWrite(new WriteResource(i, "u", d, BlobCompressor.Zstd))
             select name[..Math.Min(cut, name.Length)] + string.Concat(junk)).ToArbitrary(),
            name =>
            {
                ResourceName.TryParseRead(name, out _, out _);
                ResourceName.TryParseWrite(name, out _, out _);
                return true;
            })
        .QuickCheckThrowOnFailure();
}
