using System.Security.Cryptography;
using System.Text;
using Flywheel.Cache.Nix;
using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Tests.Server;

/// <summary>A NAR (uncompressed) and the narinfo that describes it, as `nix copy --to` would upload them.</summary>
public sealed record NarUpload(string StorePathHash, string StorePath, byte[] Nar, string NarFileName, string NarInfo)
{
    public static NarUpload Create(string name, string contents, params string[] references) =>
        FromNar(name, NarBuilder.RegularFile(contents), null, references);

    /// <summary>An upload of any NAR; <paramref name="deriver"/> is a .drv base name or null.</summary>
    public static NarUpload FromNar(string name, byte[] nar, string? deriver, params string[] references)
    {
        var hash = NixBase32.Encode(RandomNumberGenerator.GetBytes(20));
        var digest = BlobDigest.Compute(nar);
        var narHash = NixHash.FromDigest(digest).ToString();
        var fileName = NixBase32.Encode(digest.ToBytes()) + ".nar";
        var storePath = $"/nix/store/{hash}-{name}";
        var text = new StringBuilder()
            .Append("StorePath: ").Append(storePath).Append('\n')
            .Append("URL: nar/").Append(fileName).Append('\n')
            .Append("Compression: none\n")
            .Append("FileHash: ").Append(narHash).Append('\n')
            .Append("FileSize: ").Append(nar.Length).Append('\n')
            .Append("NarHash: ").Append(narHash).Append('\n')
            .Append("NarSize: ").Append(nar.Length).Append('\n')
            .Append("References: ").Append(string.Join(' ', references)).Append('\n')
            .Append(deriver is null ? "" : "Deriver: " + deriver + "\n")
            .ToString();
        return new NarUpload(hash, storePath, nar, fileName, text);
    }

    public string BaseName => StorePath["/nix/store/".Length..];

    public async Task PushAsync(HttpClient client, string cache = "main")
    {
        using var nar = await client.PutAsync($"/{cache}/nar/{NarFileName}", new ByteArrayContent(Nar));
        Assert.Equal(System.Net.HttpStatusCode.NoContent, nar.StatusCode);
        using var info = await client.PutAsync($"/{cache}/{StorePathHash}.narinfo", new StringContent(NarInfo, Encoding.UTF8, "text/x-nix-narinfo"));
        Assert.True(info.IsSuccessStatusCode, await info.Content.ReadAsStringAsync());
    }
}
