using System.Text;
using Flywheel.Cache.Compression;
using Flywheel.Cache.Nix;
using FsCheck;
using FsCheck.Fluent;

namespace Flywheel.Cache.Tests.Nix;

public class NarInfoTests
{
    private const string Main = "jdwb8rldsr28mlrqy0a57id1x2b7n4vg-flywheel-fixture-main-1.0";
    private const string Dep = "wan1cdl565m15zskridnxfrq2zi3qg4d-flywheel-fixture-dep-1.0";

    private const string Valid =
        "StorePath: /nix/store/" + Main + "\n" +
        "URL: nar/065sxbbv33j7nrhhvk6zda2rxkyzhr6qzxv7q4mn5hxksnjbsy0k.nar.zst\n" +
        "Compression: zstd\n" +
        "FileHash: sha256:065sxbbv33j7nrhhvk6zda2rxkyzhr6qzxv7q4mn5hxksnjbsy0k\n" +
        "FileSize: 736\n" +
        "NarHash: sha256:066j102w58gmbqwv713mrx5w98h596bldrpc74r7gp7hmjfh5d86\n" +
        "NarSize: 8496\n" +
        "References: " + Main + " " + Dep + "\n" +
        "Deriver: zmr73zhmkkn249qpdx2dq7d80f6lr1ih-flywheel-fixture-main-1.0.drv\n" +
        "Sig: test-1:abc=\n";

    [Fact]
    public void Parses_every_field()
    {
        var info = NarInfo.Parse(Valid);
        Assert.Equal("/nix/store/" + Main, info.StorePath.FullPath);
        Assert.Equal("nar/065sxbbv33j7nrhhvk6zda2rxkyzhr6qzxv7q4mn5hxksnjbsy0k.nar.zst", info.Url);
        Assert.Equal("zstd", info.Compression);
        Assert.Equal(NarCompression.Zstd, info.CompressionKind);
        Assert.Equal("sha256:065sxbbv33j7nrhhvk6zda2rxkyzhr6qzxv7q4mn5hxksnjbsy0k", info.FileHash.ToString());
        Assert.Equal(736, info.FileSize);
        Assert.Equal("sha256:066j102w58gmbqwv713mrx5w98h596bldrpc74r7gp7hmjfh5d86", info.NarHash.ToString());
        Assert.Equal(8496, info.NarSize);
        Assert.Equal([Main, Dep], info.References);
        Assert.Equal("zmr73zhmkkn249qpdx2dq7d80f6lr1ih-flywheel-fixture-main-1.0.drv", info.Deriver);
        Assert.Null(info.System);
        Assert.Equal(["test-1:abc="], info.Sigs);
        Assert.Null(info.Ca);
        Assert.Equal(Valid, info.Render());
        Assert.Equal(Encoding.UTF8.GetBytes(Valid), info.RenderUtf8());
    }

    [Fact]
    public void Fingerprint_is_Nix_s_with_sorted_full_reference_paths()
    {
        var info = NarInfo.Parse(Valid);
        const string expected = "1;/nix/store/" + Main + ";sha256:066j102w58gmbqwv713mrx5w98h596bldrpc74r7gp7hmjfh5d86;8496;"
            + "/nix/store/" + Main + ",/nix/store/" + Dep;
        Assert.Equal(expected, info.Fingerprint());
        info.References = [Dep, Main];
        Assert.Equal(expected, info.Fingerprint());
        info.References = [];
        Assert.EndsWith(";8496;", info.Fingerprint());
    }

    [Fact]
    public void Real_narinfos_render_back_byte_for_byte()
    {
        foreach (var (path, text) in NixFixtures.AllNarInfos())
        {
            var info = NarInfo.Parse(Encoding.UTF8.GetBytes(text), "/nix/store");
            Assert.True(text == info.Render(), path);
        }
    }

    [Fact]
    public void Render_then_parse_round_trips() =>
        Prop.ForAll(NixGen.NarInfo.ToArbitrary(), info =>
        {
            var text = info.Render();
            var back = NarInfo.Parse(info.RenderUtf8());
            return back.Render() == text
                && back.StorePath == info.StorePath && back.Url == info.Url && back.Compression == info.Compression
                && Nullable.Equals(back.FileHash, info.FileHash) && back.FileSize == info.FileSize
                && back.NarHash == info.NarHash && back.NarSize == info.NarSize
                && back.References.SequenceEqual(info.References) && back.Deriver == info.Deriver
                && back.System == info.System && back.Sigs.SequenceEqual(info.Sigs) && back.Ca == info.Ca;
        }).QuickCheckThrowOnFailure();

    [Fact]
    public void Follows_Nix_defaults_and_ignores_unknown_keys()
    {
        var text = Valid.Replace("Compression: zstd\n", "")
            .Replace("Deriver: zmr73zhmkkn249qpdx2dq7d80f6lr1ih-flywheel-fixture-main-1.0.drv", "Deriver: unknown-deriver")
            + "Futuristic: whatever\nSystem: x86_64-linux\nCA: fixed:r:sha256:066j102w58gmbqwv713mrx5w98h596bldrpc74r7gp7hmjfh5d86";
        var info = NarInfo.Parse(text);
        Assert.Equal("bzip2", info.Compression);
        Assert.Null(info.Deriver);
        Assert.Equal("x86_64-linux", info.System);
        Assert.Equal("fixed:r:sha256:066j102w58gmbqwv713mrx5w98h596bldrpc74r7gp7hmjfh5d86", info.Ca);
        Assert.DoesNotContain("Futuristic", info.Render());
    }

    [Fact]
    public void Accepts_hashes_in_any_form_and_renders_nix32()
    {
        var text = Valid.Replace("sha256:066j102w58gmbqwv713mrx5w98h596bldrpc74r7gp7hmjfh5d86",
            NarInfo.Parse(Valid).NarHash.ToSri());
        Assert.Equal(Valid, NarInfo.Parse(text).Render());
    }

    [Theory]
    [InlineData("StorePath: /nix/store/" + Main + "\n", "", "no StorePath")]
    [InlineData("URL: nar/065sxbbv33j7nrhhvk6zda2rxkyzhr6qzxv7q4mn5hxksnjbsy0k.nar.zst\n", "", "no URL")]
    [InlineData("URL: nar/065sxbbv33j7nrhhvk6zda2rxkyzhr6qzxv7q4mn5hxksnjbsy0k.nar.zst\n", "URL: \n", "no URL")]
    [InlineData("NarHash: sha256:066j102w58gmbqwv713mrx5w98h596bldrpc74r7gp7hmjfh5d86\n", "", "no NarHash")]
    [InlineData("NarSize: 8496\n", "", "no NarSize")]
    [InlineData("NarSize: 8496\n", "NarSize: 0\n", "NarSize is 0")]
    [InlineData("NarSize: 8496\n", "NarSize: -1\n", "NarSize (line 7) '-1' is not a non-negative integer")]
    [InlineData("NarSize: 8496\n", "NarSize: 84x\n", "NarSize (line 7) '84x' is not a non-negative integer")]
    [InlineData("NarSize: 8496\n", "NarSize: 99999999999999999999\n", "NarSize (line 7)")]
    [InlineData("FileSize: 736\n", "FileSize: +736\n", "FileSize (line 5)")]
    [InlineData("FileSize: 736\n", "FileSize:  736\n", "FileSize (line 5)")]
    [InlineData("NarHash: sha256:066j102w58gmbqwv713mrx5w98h596bldrpc74r7gp7hmjfh5d86\n", "NarHash: md5:d41d8cd98f00b204e9800998ecf8427e\n", "NarHash (line 6): unsupported hash algorithm md5")]
    [InlineData("FileHash: sha256:065sxbbv33j7nrhhvk6zda2rxkyzhr6qzxv7q4mn5hxksnjbsy0k\n", "FileHash: sha256:065sxbbv33\n", "FileHash (line 4)")]
    [InlineData("StorePath: /nix/store/" + Main + "\n", "StorePath: /gnu/store/" + Main + "\n", "StorePath (line 1)")]
    [InlineData("References: " + Main + " " + Dep + "\n", "References: " + Main + " not-a-path\n", "References (line 8): 'not-a-path' is not a store path base name")]
    [InlineData("References: " + Main + " " + Dep + "\n", "References: " + Main + " /nix/store/" + Dep + "\n", "is not a store path base name")]
    [InlineData("References: " + Main + " " + Dep + "\n", "References: " + Main + " " + Main + "\n", "listed twice")]
    [InlineData("Deriver: zmr73zhmkkn249qpdx2dq7d80f6lr1ih-flywheel-fixture-main-1.0.drv\n", "Deriver: x.drv\n", "Deriver (line 9)")]
    [InlineData("Sig: test-1:abc=\n", "Sig: nocolon\n", "Sig (line 10)")]
    [InlineData("Compression: zstd\n", "Compression: zstd\nCompression: xz\n", "second Compression (line 4)")]
    [InlineData("NarSize: 8496\n", "NarSize: 8496\nNarSize: 8496\n", "second NarSize")]
    [InlineData("URL: nar/065sxbbv33j7nrhhvk6zda2rxkyzhr6qzxv7q4mn5hxksnjbsy0k.nar.zst\n", "URL: a\nURL: b\n", "second URL")]
    [InlineData("References: " + Main + " " + Dep + "\n", "References: \nReferences: \n", "second References")]
    [InlineData("Compression: zstd\n", "no colon here\n", "line 3 is not 'Key: value'")]
    [InlineData("Compression: zstd\n", "\n", "line 3 is not 'Key: value'")]
    [InlineData("Compression: zstd\n", "Compression:zstd\n", "no space after the colon")]
    public void Rejects_bad_narinfos_naming_the_problem(string find, string replace, string expected)
    {
        Assert.Contains(find, Valid);
        var ex = Assert.Throws<CacheException>(() => NarInfo.Parse(Valid.Replace(find, replace)));
        Assert.Equal(CacheError.Invalid, ex.Error);
        Assert.Contains(expected, ex.Message);
    }

    [Theory]
    [InlineData("System: x86_64-linux\r")]
    [InlineData("System: x86\0_64-linux")]
    [InlineData("System: x86_64\t-linux")]
    [InlineData("System: \u001b[31mred")]
    [InlineData("System: x86_64-linux\u007f")]
    [InlineData("Futuristic: an unknown key\u0001")]
    [InlineData("Sig: test-2:abc\r")]
    public void Rejects_control_characters_in_any_line(string line)
    {
        var ex = Assert.Throws<CacheException>(() => NarInfo.Parse(Valid + line + "\n"));
        Assert.Equal(CacheError.Invalid, ex.Error);
        Assert.Contains("line 11 contains a control character", ex.Message);
    }

    [Theory]
    [InlineData("text:sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s")]
    [InlineData("fixed:sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s")]
    [InlineData("fixed:r:sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s")]
    [InlineData("fixed:r:sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")]
    [InlineData("fixed:r:sha256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")]
    [InlineData("fixed:md5:d41d8cd98f00b204e9800998ecf8427e")]
    [InlineData("fixed:r:sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709")]
    [InlineData("fixed:sha1:0000000000000000000000000000000z")]
    [InlineData("fixed:r:sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e")]
    public void Accepts_content_addresses_as_Nix_writes_them(string ca)
    {
        Assert.Equal(ca, NarInfo.Parse(Valid + "CA: " + ca + "\n").Ca);
    }

    [Theory]
    [InlineData("", "starts with 'text:' or 'fixed:'")]
    [InlineData("garbage", "starts with 'text:' or 'fixed:'")]
    [InlineData("source:sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s", "starts with 'text:' or 'fixed:'")]
    [InlineData("text:sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709", "text:sha256:<hash>")]
    [InlineData("text:r:sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s", "text:sha256:<hash>")]
    [InlineData("fixed:sha384:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s", "fixed:[r:]<md5|sha1|sha256|sha512>:<hash>")]
    [InlineData("fixed:r:sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5", "not a sha256 hash")]
    [InlineData("fixed:r:sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5e", "not a sha256 hash")]
    [InlineData("fixed:r:sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "fixed:[r:]")]
    [InlineData("fixed:md5:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "not a md5 hash")]
    public void Rejects_content_addresses_Nix_would_not_parse(string ca, string expected)
    {
        var ex = Assert.Throws<CacheException>(() => NarInfo.Parse(Valid + "CA: " + ca + "\n"));
        Assert.Equal(CacheError.Invalid, ex.Error);
        Assert.Contains("CA (line 11)", ex.Message);
        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void Rejects_invalid_utf8()
    {
        var bytes = Encoding.UTF8.GetBytes(Valid).Concat(new byte[] { (byte)'S', (byte)'y', (byte)'s', (byte)':', (byte)' ', 0xff }).ToArray();
        var ex = Assert.Throws<CacheException>(() => NarInfo.Parse(bytes));
        Assert.Contains("UTF-8", ex.Message);
    }

    [Fact]
    public void Never_throws_anything_but_CacheException_on_garbage() =>
        Prop.ForAll<byte[]>(bytes =>
        {
            try
            {
                NarInfo.Parse(bytes);
                return true;
            }
            catch (CacheException e)
            {
                return e.Error == CacheError.Invalid;
            }
        }).QuickCheckThrowOnFailure();
}
