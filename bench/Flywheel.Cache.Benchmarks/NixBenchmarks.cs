using System.Security.Cryptography;
using System.Text;
using BenchmarkDotNet.Attributes;
using Flywheel.Cache.Nix;

namespace Flywheel.Cache.Benchmarks;

/// <summary>The Nix primitives on the upload and lookup paths: base32, narinfo parse/render, signing.</summary>
[MemoryDiagnoser]
public class NixBenchmarks
{
    private readonly byte[] _digest = RandomNumberGenerator.GetBytes(32);
    private readonly NixSigningKey _key = NixSigningKey.Generate("bench-1");
    private byte[] _narInfo = [];
    private NarInfo _parsed = null!;
    private string _fingerprint = "";
    private string _signature = "";
    private string _encoded = "";

    [GlobalSetup]
    public void Setup()
    {
        var refs = Enumerable.Range(0, 8).Select(_ => NixBase32.Encode(RandomNumberGenerator.GetBytes(20)) + "-dep").ToArray();
        var text = new StringBuilder()
            .Append("StorePath: /nix/store/").Append(NixBase32.Encode(RandomNumberGenerator.GetBytes(20))).Append("-hello-2.12\n")
            .Append("URL: nar/").Append(NixBase32.Encode(_digest)).Append(".nar.zst\n")
            .Append("Compression: zstd\n")
            .Append("FileHash: sha256:").Append(NixBase32.Encode(_digest)).Append('\n')
            .Append("FileSize: 123456\n")
            .Append("NarHash: sha256:").Append(NixBase32.Encode(_digest)).Append('\n')
            .Append("NarSize: 654321\n")
            .Append("References: ").Append(string.Join(' ', refs)).Append('\n')
            .ToString();
        _narInfo = Encoding.UTF8.GetBytes(text);
        _parsed = NarInfo.Parse(_narInfo);
        _fingerprint = _parsed.Fingerprint();
        _signature = _key.Sign(_fingerprint);
        _encoded = NixBase32.Encode(_digest);
    }

    [Benchmark]
    public string Base32Encode() => NixBase32.Encode(_digest);

    [Benchmark]
    public bool Base32Decode()
    {
        Span<byte> bytes = stackalloc byte[32];
        return NixBase32.TryDecode(_encoded, bytes);
    }

    [Benchmark]
    public NarInfo ParseNarInfo() => NarInfo.Parse(_narInfo);

    [Benchmark]
    public byte[] RenderNarInfo() => _parsed.RenderUtf8();

    /// <summary>The text an Ed25519 signature covers: <c>1;path;narHash;narSize;refs</c>.</summary>
    [Benchmark]
    public string Fingerprint() => _parsed.Fingerprint();

    [Benchmark]
    public string Sign() => _key.Sign(_fingerprint);

    [Benchmark]
    public bool Verify() => _key.PublicKey.Verify(_fingerprint, _signature);
}
