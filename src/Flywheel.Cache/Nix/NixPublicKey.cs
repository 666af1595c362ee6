using System.Text;
using Org.BouncyCastle.Math.EC.Rfc8032;

namespace Flywheel.Cache.Nix;

/// <summary>
/// A Nix signing public key, <c>&lt;name&gt;:&lt;base64 of 32 bytes&gt;</c> (as in <c>trusted-public-keys</c>),
/// which verifies narinfo signatures <c>&lt;name&gt;:&lt;base64 of a 64-byte Ed25519 signature&gt;</c>.
/// </summary>
public sealed class NixPublicKey : IEquatable<NixPublicKey>
{
    public const int KeyLength = 32;
    public const int SignatureLength = 64;

    private readonly byte[] _key;

    internal NixPublicKey(string name, byte[] key)
    {
        Name = name;
        _key = key;
    }

    public string Name { get; }

    /// <summary>The raw 32-byte Ed25519 public key.</summary>
    public ReadOnlySpan<byte> KeyBytes => _key;

    public static NixPublicKey Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var (name, body) = NixKeyText.Split(text, "public key");
        var key = NixKeyText.DecodeBase64(body, "public key", name);
        if (key.Length != KeyLength)
        {
            throw CacheException.Invalid($"public key {ClientText.Quote(name)} has {key.Length} bytes; an Ed25519 public key has {KeyLength}");
        }

        return new NixPublicKey(name, key);
    }

    public static bool TryParse(string? text, out NixPublicKey? key)
    {
        key = null;
        if (text is null)
        {
            return false;
        }

        try
        {
            key = Parse(text);
            return true;
        }
        catch (CacheException)
        {
            return false;
        }
    }

    /// <summary>
    /// True when <paramref name="sig"/> (<c>name:base64</c>) carries this key's name and is a valid signature of
    /// <paramref name="fingerprint"/>. False for anything else, including garbage; never throws.
    /// </summary>
    public bool Verify(string fingerprint, string sig)
    {
        if (fingerprint is null || sig is null)
        {
            return false;
        }

        var colon = sig.IndexOf(':');
        if (colon <= 0 || !sig.AsSpan(0, colon).SequenceEqual(Name))
        {
            return false;
        }

        var body = sig.AsSpan(colon + 1);
        Span<byte> signature = stackalloc byte[SignatureLength + 3];
        if (!Convert.TryFromBase64Chars(body, signature, out var written) || written != SignatureLength)
        {
            return false;
        }

        var message = Encoding.UTF8.GetBytes(fingerprint);
        try
        {
            return Ed25519.Verify(signature[..SignatureLength].ToArray(), 0, _key, 0, message, 0, message.Length);
        }
        catch (Exception)
        {
            return false;
        }
    }

    public override string ToString() => Name + ":" + Convert.ToBase64String(_key);

    public bool Equals(NixPublicKey? other) =>
        other is not null && Name == other.Name && _key.AsSpan().SequenceEqual(other._key);

    public override bool Equals(object? obj) => Equals(obj as NixPublicKey);

    public override int GetHashCode() => HashCode.Combine(Name, BitConverter.ToInt32(_key, 0));
}
