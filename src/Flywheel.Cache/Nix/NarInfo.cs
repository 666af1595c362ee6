using System.Buffers.Text;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Text;
using Flywheel.Cache.Compression;

namespace Flywheel.Cache.Nix;

/// <summary>
/// A <c>.narinfo</c> file: what a binary cache knows about one store path. Parsed as Nix parses it
/// (<c>Key: value</c> lines, unknown keys ignored, Compression defaulting to bzip2, <c>unknown-deriver</c>
/// meaning none) but stricter: no repeated keys, no control characters in any line, a <c>CA</c> that parses as a
/// content address (<see cref="ContentAddress"/>); rendered in Nix's field order.
/// </summary>
public sealed class NarInfo
{
    public const string UnknownDeriver = "unknown-deriver";

    public required StorePath StorePath { get; set; }

    /// <summary>Where the NAR file is, relative to the cache root (e.g. <c>nar/&lt;filehash&gt;.nar.xz</c>).</summary>
    public required string Url { get; set; }

    /// <summary>The narinfo compression name (<c>none</c>, <c>xz</c>, <c>zstd</c>, <c>br</c>, <c>bzip2</c>, …).</summary>
    public string Compression { get; set; } = "none";

    public NixHash? FileHash { get; set; }

    public long? FileSize { get; set; }

    public required NixHash NarHash { get; set; }

    public required long NarSize { get; set; }

    /// <summary>Base names (<c>&lt;hash&gt;-&lt;name&gt;</c>) of the paths this one refers to, possibly itself.</summary>
    public List<string> References { get; set; } = [];

    /// <summary>Base name of the deriving <c>.drv</c>, or null when unknown.</summary>
    public string? Deriver { get; set; }

    public string? System { get; set; }

    /// <summary>Signatures, each <c>&lt;key name&gt;:&lt;base64&gt;</c>.</summary>
    public List<string> Sigs { get; set; } = [];

    /// <summary>The content address (e.g. <c>fixed:r:sha256:…</c>), or null for input-addressed paths.</summary>
    public string? Ca { get; set; }

    /// <summary>The compression as an enum, or null when it is not one we can decompress.</summary>
    public NarCompression? CompressionKind =>
        NarCompressions.TryFromNarInfoName(Compression, out var kind) ? kind : null;

    public static NarInfo Parse(string text, string storeDir = StorePath.DefaultStoreDir) =>
        Parse(Encoding.UTF8.GetBytes(text), storeDir);

    /// <summary>Parses a narinfo; throws <see cref="CacheException"/> (Invalid) naming the bad line or field.</summary>
    public static NarInfo Parse(ReadOnlySpan<byte> utf8, string storeDir = StorePath.DefaultStoreDir)
    {
        if (!global::System.Text.Unicode.Utf8.IsValid(utf8))
        {
            Fail("narinfo is not valid UTF-8");
        }

        StorePath? storePath = null;
        string? url = null, compression = null, deriver = null, system = null, ca = null;
        NixHash? fileHash = null, narHash = null;
        long? fileSize = null, narSize = null;
        List<string>? references = null;
        var sigs = new List<string>();
        var seenDeriver = false;

        var lineNumber = 0;
        var rest = utf8;
        while (!rest.IsEmpty)
        {
            lineNumber++;
            var eol = rest.IndexOf((byte)'\n');
            var line = eol < 0 ? rest : rest[..eol];
            rest = eol < 0 ? default : rest[(eol + 1)..];
            if (line.IndexOfAnyInRange((byte)0, (byte)0x1F) >= 0 || line.Contains((byte)0x7F))
            {
                // CR, NUL, tab, escape…: Nix splits on '\n' only, so these would end up inside a field (or a log line).
                Fail($"narinfo line {lineNumber} contains a control character");
            }

            var colon = line.IndexOf((byte)':');
            if (colon <= 0)
            {
                Fail($"narinfo line {lineNumber} is not 'Key: value'");
            }

            var key = line[..colon];
            var valueBytes = line[(colon + 1)..];
            if (!valueBytes.IsEmpty)
            {
                if (valueBytes[0] != (byte)' ')
                {
                    Fail($"narinfo line {lineNumber} is not 'Key: value' (no space after the colon)");
                }

                valueBytes = valueBytes[1..];
            }

            if (key.SequenceEqual("StorePath"u8))
            {
                CheckOnce(storePath is not null, "StorePath", lineNumber);
                var value = Encoding.UTF8.GetString(valueBytes);
                if (!StorePath.TryParse(value, storeDir, out storePath, out var error))
                {
                    Fail($"narinfo StorePath (line {lineNumber}): {error}");
                }
            }
            else if (key.SequenceEqual("URL"u8))
            {
                CheckOnce(url is not null, "URL", lineNumber);
                url = Encoding.UTF8.GetString(valueBytes);
            }
            else if (key.SequenceEqual("Compression"u8))
            {
                CheckOnce(compression is not null, "Compression", lineNumber);
                compression = Encoding.UTF8.GetString(valueBytes);
            }
            else if (key.SequenceEqual("FileHash"u8))
            {
                CheckOnce(fileHash is not null, "FileHash", lineNumber);
                fileHash = ParseHash(valueBytes, "FileHash", lineNumber);
            }
            else if (key.SequenceEqual("FileSize"u8))
            {
                CheckOnce(fileSize is not null, "FileSize", lineNumber);
                fileSize = ParseNumber(valueBytes, "FileSize", lineNumber);
            }
            else if (key.SequenceEqual("NarHash"u8))
            {
                CheckOnce(narHash is not null, "NarHash", lineNumber);
                narHash = ParseHash(valueBytes, "NarHash", lineNumber);
            }
            else if (key.SequenceEqual("NarSize"u8))
            {
                CheckOnce(narSize is not null, "NarSize", lineNumber);
                narSize = ParseNumber(valueBytes, "NarSize", lineNumber);
            }
            else if (key.SequenceEqual("References"u8))
            {
                CheckOnce(references is not null, "References", lineNumber);
                references = ParseReferences(valueBytes, lineNumber);
            }
            else if (key.SequenceEqual("Deriver"u8))
            {
                CheckOnce(seenDeriver, "Deriver", lineNumber);
                seenDeriver = true;
                var value = Encoding.UTF8.GetString(valueBytes);
                if (value != UnknownDeriver)
                {
                    if (!StorePath.IsValidBaseName(value))
                    {
                        Fail($"narinfo Deriver (line {lineNumber}) '{ClientText.Cut(value)}' is not a store path base name");
                    }

                    deriver = value;
                }
            }
            else if (key.SequenceEqual("System"u8))
            {
                CheckOnce(system is not null, "System", lineNumber);
                system = Encoding.UTF8.GetString(valueBytes);
            }
            else if (key.SequenceEqual("Sig"u8))
            {
                var sig = Encoding.UTF8.GetString(valueBytes);
                if (sig.IndexOf(':') <= 0)
                {
                    Fail($"narinfo Sig (line {lineNumber}) is not '<key name>:<signature>'");
                }

                sigs.Add(sig);
            }
            else if (key.SequenceEqual("CA"u8))
            {
                CheckOnce(ca is not null, "CA", lineNumber);
                ca = Encoding.UTF8.GetString(valueBytes);
                if (!ContentAddress.IsValid(ca, out var caError))
                {
                    Fail($"narinfo CA (line {lineNumber}): {caError}");
                }
            }

            // Any other key is ignored, as Nix does.
        }

        if (storePath is null)
        {
            Fail("narinfo has no StorePath");
        }

        if (string.IsNullOrEmpty(url))
        {
            Fail("narinfo has no URL");
        }

        if (narHash is null)
        {
            Fail("narinfo has no NarHash");
        }

        if (narSize is null)
        {
            Fail("narinfo has no NarSize");
        }

        if (narSize == 0)
        {
            Fail("narinfo NarSize is 0");
        }

        return new NarInfo
        {
            StorePath = storePath,
            Url = url,
            Compression = string.IsNullOrEmpty(compression) ? "bzip2" : compression,
            FileHash = fileHash,
            FileSize = fileSize,
            NarHash = narHash.Value,
            NarSize = narSize.Value,
            References = references ?? [],
            Deriver = deriver,
            System = system,
            Sigs = sigs,
            Ca = ca,
        };
    }

    /// <summary>The narinfo text in Nix's field order, one <c>Key: value</c> line each.</summary>
    public string Render()
    {
        var sb = new StringBuilder(512);
        sb.Append("StorePath: ").Append(StorePath.FullPath).Append('\n');
        sb.Append("URL: ").Append(Url).Append('\n');
        sb.Append("Compression: ").Append(Compression).Append('\n');
        if (FileHash is { } fileHash)
        {
            sb.Append("FileHash: ").Append(fileHash.ToString()).Append('\n');
        }

        if (FileSize is { } fileSize)
        {
            sb.Append("FileSize: ").Append(fileSize).Append('\n');
        }

        sb.Append("NarHash: ").Append(NarHash.ToString()).Append('\n');
        sb.Append("NarSize: ").Append(NarSize).Append('\n');
        sb.Append("References: ").AppendJoin(' ', References).Append('\n');
        if (Deriver is not null)
        {
            sb.Append("Deriver: ").Append(Deriver).Append('\n');
        }

        if (!string.IsNullOrEmpty(System))
        {
            sb.Append("System: ").Append(System).Append('\n');
        }

        foreach (var sig in Sigs)
        {
            sb.Append("Sig: ").Append(sig).Append('\n');
        }

        if (Ca is not null)
        {
            sb.Append("CA: ").Append(Ca).Append('\n');
        }

        return sb.ToString();
    }

    public byte[] RenderUtf8() => Encoding.UTF8.GetBytes(Render());

    /// <summary>
    /// What Nix signs (ValidPathInfo::fingerprint):
    /// <c>1;&lt;store path&gt;;sha256:&lt;nix32 nar hash&gt;;&lt;nar size&gt;;&lt;full reference paths, sorted, comma-joined&gt;</c>.
    /// </summary>
    public string Fingerprint()
    {
        var refs = References.Count == 0 ? [] : References.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
        var storeDir = StorePath.StoreDir;
        var sb = new StringBuilder(128 + (refs.Length * 80));
        sb.Append("1;").Append(StorePath.FullPath).Append(';').Append(NarHash.ToString()).Append(';').Append(NarSize).Append(';');
        for (var i = 0; i < refs.Length; i++)
        {
            if (i > 0)
            {
                sb.Append(',');
            }

            sb.Append(storeDir).Append('/').Append(refs[i]);
        }

        return sb.ToString();
    }

    /// <summary>Signs the fingerprint and adds the signature, replacing an earlier one by the same key name.</summary>
    public void Sign(NixSigningKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var prefix = key.Name + ":";
        Sigs.RemoveAll(s => s.StartsWith(prefix, StringComparison.Ordinal));
        Sigs.Add(key.Sign(Fingerprint()));
    }

    /// <summary>True when some signature verifies under one of <paramref name="keys"/>.</summary>
    public bool IsSignedByAny(IEnumerable<NixPublicKey> keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        string? fingerprint = null;
        foreach (var key in keys)
        {
            foreach (var sig in Sigs)
            {
                fingerprint ??= Fingerprint();
                if (key.Verify(fingerprint, sig))
                {
                    return true;
                }
            }
        }

        return false;
    }

    private static List<string> ParseReferences(ReadOnlySpan<byte> value, int lineNumber)
    {
        var list = new List<string>();
        foreach (var range in value.Split((byte)' '))
        {
            var token = value[range];
            if (token.IsEmpty)
            {
                continue;
            }

            var reference = Encoding.UTF8.GetString(token);
            if (!StorePath.IsValidBaseName(reference))
            {
                Fail($"narinfo References (line {lineNumber}): '{ClientText.Cut(reference)}' is not a store path base name");
            }

            if (list.Contains(reference))
            {
                Fail($"narinfo References (line {lineNumber}): '{ClientText.Cut(reference)}' is listed twice");
            }

            list.Add(reference);
        }

        return list;
    }

    private static NixHash ParseHash(ReadOnlySpan<byte> value, string field, int lineNumber)
    {
        Span<char> chars = stackalloc char[128];
        if (value.Length > chars.Length)
        {
            Fail($"narinfo {field} (line {lineNumber}) is not a hash");
        }

        var n = Encoding.UTF8.GetChars(value, chars);
        if (!NixHash.TryParse(chars[..n], out var hash, out var error))
        {
            Fail($"narinfo {field} (line {lineNumber}): {error}");
        }

        return hash;
    }

    private static long ParseNumber(ReadOnlySpan<byte> value, string field, int lineNumber)
    {
        long number = 0;
        if (value.IsEmpty || value[0] is < (byte)'0' or > (byte)'9'
            || !Utf8Parser.TryParse(value, out number, out var consumed) || consumed != value.Length || number < 0)
        {
            Fail($"narinfo {field} (line {lineNumber}) '{ClientText.Cut(Encoding.UTF8.GetString(value))}' is not a non-negative integer");
        }

        return number;
    }

    private static void CheckOnce(bool alreadySeen, string field, int lineNumber)
    {
        if (alreadySeen)
        {
            Fail($"narinfo has a second {field} (line {lineNumber})");
        }
    }


    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Fail(string message) => throw CacheException.Invalid(message);
}
