using System.Security.Cryptography;
using System.Text;
using Org.BouncyCastle.Math.EC.Rfc8032;

namespace Flywheel.Cache.Nix;

/// <summary>
/// A Nix signing (secret) key, <c>&lt;name&gt;:&lt;base64 of 64 bytes&gt;</c>: the 32-byte Ed25519 seed followed by
/// the 32-byte public key, as <c>nix key generate-secret</c> writes it. A bare 32-byte seed is accepted too.
/// Signs narinfo fingerprints as <c>&lt;name&gt;:&lt;base64 signature&gt;</c>; Ed25519 is deterministic, so the
/// signature equals the one Nix makes with the same key.
/// </summary>
public sealed class NixSigningKey
{
    public const int SeedLength = 32;

    private readonly byte[] _seed;

    private NixSigningKey(string name, byte[] seed)
    {
        Name = name;
        _seed = seed;
        var publicKey = new byte[NixPublicKey.KeyLength];
        Ed25519.GeneratePublicKey(seed, 0, publicKey, 0);
        PublicKey = new NixPublicKey(name, publicKey);
    }

    public string Name { get; }

    public NixPublicKey PublicKey { get; }

    public static NixSigningKey Generate(string name)
    {
        NixKeyText.CheckName(name, "secret key");
        return new NixSigningKey(name, RandomNumberGenerator.GetBytes(SeedLength));
    }

    public static NixSigningKey Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var (name, body) = NixKeyText.Split(text.Trim(), "secret key");
        var bytes = NixKeyText.DecodeBase64(body, "secret key", name);
        switch (bytes.Length)
        {
            case SeedLength:
                return new NixSigningKey(name, bytes);
            case SeedLength + NixPublicKey.KeyLength:
                var key = new NixSigningKey(name, bytes[..SeedLength]);
                if (!key.PublicKey.KeyBytes.SequenceEqual(bytes.AsSpan(SeedLength)))
                {
                    throw CacheException.Invalid($"secret key '{name}': its public half does not match its seed");
                }

                return key;
            default:
                throw CacheException.Invalid(
                    $"secret key '{name}' has {bytes.Length} bytes; expected 64 (seed and public key) or 32 (seed)");
        }
    }

    /// <summary>Signs <paramref name="fingerprint"/> (see <see cref="NarInfo.Fingerprint"/>): <c>name:base64</c>.</summary>
    public string Sign(string fingerprint)
    {
        ArgumentNullException.ThrowIfNull(fingerprint);
        var message = Encoding.UTF8.GetBytes(fingerprint);
        var signature = new byte[NixPublicKey.SignatureLength];
        Ed25519.Sign(_seed, 0, message, 0, message.Length, signature, 0);
        return Name + ":" + Convert.ToBase64String(signature);
    }

    /// <summary>The secret key in Nix's format: <c>name:base64(seed ‖ public key)</c>.</summary>
    public override string ToString()
    {
        var bytes = new byte[SeedLength + NixPublicKey.KeyLength];
        _seed.CopyTo(bytes, 0);
        PublicKey.KeyBytes.CopyTo(bytes.AsSpan(SeedLength));
        return Name + ":" + Convert.ToBase64String(bytes);
    }
}
