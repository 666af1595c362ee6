using System.Text;
using Flywheel.Cache.Compression;
using Flywheel.Cache.Index;
using Flywheel.Cache.Nix;
using Flywheel.Cache.Tests.Nix;

namespace Flywheel.Cache.Tests.Upstream;

/// <summary>Which upstream narinfos are accepted, and what the cache serves in their place (narinfos real Nix wrote).</summary>
public sealed class UpstreamNarInfoTests
{
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);

    private static Cache.Upstream.Upstream Upstream(string url = "http://upstream.example/cache", string? key = null) =>
        new(new UpstreamRecord(7, 1, url, 10, [key ?? NixFixtures.PublicKey], null, TimeSpan.FromSeconds(5), Now), "main");

    [Theory]
    [MemberData(nameof(NixFixtures.Compressions), MemberType = typeof(NixFixtures))]
    public void A_signed_narinfo_is_served_pointing_at_our_nar_with_its_signature_kept(NarCompression compression)
    {
        var (hash, narPath, nar) = UpstreamGateway.MainPath(compression);
        var text = File.ReadAllText(Path.Combine(NixFixtures.CacheDir(compression), hash + ".narinfo"));
        var original = NarInfo.Parse(text);

        var (served, record) = Cache.Upstream.UpstreamNarInfo.Accept(Encoding.UTF8.GetBytes(text), Upstream(), hash, "/nix/store", Now);

        Assert.Equal(narPath, served.Url);
        Assert.Equal(original.Sigs, served.Sigs);
        Assert.Equal(original.Fingerprint(), served.Fingerprint());
        Assert.Equal(original.FileHash, served.FileHash);
        Assert.Equal(new UpstreamNarRecord(original.FileHash!.Value.Digest, 7, "http://upstream.example/cache/" + narPath,
            compression.ToNarInfoName(), nar.Length, original.NarHash.ToString(), original.NarSize, Now), record);
    }

    [Fact]
    public void Narinfos_not_signed_by_a_trusted_key_are_refused_naming_the_keys()
    {
        var (hash, _, _) = UpstreamGateway.MainPath(NarCompression.Xz);
        var info = NarInfo.Parse(File.ReadAllText(Path.Combine(NixFixtures.CacheDir(NarCompression.Xz), hash + ".narinfo")));
        var other = NixSigningKey.Generate("other-1");

        var untrusted = Assert.Throws<CacheException>(() => Accept(info, Upstream(key: other.PublicKey.ToString())));
        info.Sigs.Clear();
        var unsigned = Assert.Throws<CacheException>(() => Accept(info, Upstream()));
        info.Sigs.Add(other.Sign(info.Fingerprint()).Replace("other-1", "test-1", StringComparison.Ordinal)); // right name, wrong key
        var forged = Assert.Throws<CacheException>(() => Accept(info, Upstream()));

        Assert.Contains("signed by none of the trusted keys (other-1)", untrusted.Message, StringComparison.Ordinal);
        Assert.Contains("is not signed", unsigned.Message, StringComparison.Ordinal);
        Assert.Equal(CacheError.Invalid, forged.Error);
    }

    [Fact]
    public void A_narinfo_for_another_path_or_with_a_nar_url_elsewhere_is_refused()
    {
        var (hash, _, _) = UpstreamGateway.MainPath(NarCompression.Xz);
        var text = File.ReadAllText(Path.Combine(NixFixtures.CacheDir(NarCompression.Xz), hash + ".narinfo"));

        var wrongPath = Assert.Throws<CacheException>(() =>
            Cache.Upstream.UpstreamNarInfo.Accept(Encoding.UTF8.GetBytes(text), Upstream(), "00000000abcdfghijklmnpqrsvwxyz00", "/nix/store", Now));
        var info = NarInfo.Parse(text);
        info.Url = "http://169.254.169.254/latest/meta-data";
        var elsewhere = Assert.Throws<CacheException>(() => Accept(info, Upstream()));

        Assert.Contains("with the narinfo of", wrongPath.Message, StringComparison.Ordinal);
        Assert.Contains("not a location at the upstream", elsewhere.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_uncompressed_nar_without_file_hash_takes_the_nar_hash_but_a_compressed_one_is_refused()
    {
        var (hash, _, _) = UpstreamGateway.MainPath(NarCompression.None);
        var info = NarInfo.Parse(File.ReadAllText(Path.Combine(NixFixtures.CacheDir(NarCompression.None), hash + ".narinfo")));
        info.FileHash = null;
        info.FileSize = null;
        info.Url = $"nar/{hash}.nar";

        var (served, record) = Accept(info, Upstream());
        info.Compression = "xz";
        var compressed = Assert.Throws<CacheException>(() => Accept(info, Upstream()));
        info.Compression = "lz4";
        var unknown = Assert.Throws<CacheException>(() => Accept(info, Upstream()));

        Assert.Equal(info.NarHash, served.FileHash);
        Assert.Equal(info.NarSize, served.FileSize);
        Assert.Equal($"http://upstream.example/cache/nar/{hash}.nar", record.Url);
        Assert.Contains("no FileHash", compressed.Message, StringComparison.Ordinal);
        Assert.Contains("'lz4'", unknown.Message, StringComparison.Ordinal);
    }

    private static (NarInfo, UpstreamNarRecord) Accept(NarInfo info, Cache.Upstream.Upstream upstream) =>
        Cache.Upstream.UpstreamNarInfo.Accept(Encoding.UTF8.GetBytes(info.Render()), upstream, info.StorePath.HashPart, "/nix/store", Now);
}
