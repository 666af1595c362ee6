using System.Diagnostics.CodeAnalysis;

namespace Flywheel.Cache.Nix;

/// <summary>
/// A Nix store path, <c>&lt;storeDir&gt;/&lt;hash&gt;-&lt;name&gt;</c>: a 32-character nix32 hash part (160 bits)
/// and a name of at most 211 characters from <c>A-Za-z0-9+-._?=</c> that does not start with a period.
/// </summary>
public sealed class StorePath : IEquatable<StorePath>, IComparable<StorePath>
{
    public const string DefaultStoreDir = "/nix/store";
    public const int HashPartLength = 32;
    public const int MaxNameLength = 211;

    private StorePath(string storeDir, string baseName)
    {
        StoreDir = storeDir;
        BaseName = baseName;
        HashPart = baseName[..HashPartLength];
        Name = baseName[(HashPartLength + 1)..];
        FullPath = storeDir + "/" + baseName;
    }

    /// <summary>The store directory, without a trailing slash (e.g. <c>/nix/store</c>).</summary>
    public string StoreDir { get; }

    /// <summary>The 32 nix32 characters before the first dash.</summary>
    public string HashPart { get; }

    /// <summary>The name after the dash (e.g. <c>hello-2.12</c>).</summary>
    public string Name { get; }

    /// <summary><c>&lt;hash&gt;-&lt;name&gt;</c>, the form used in narinfo References and Deriver.</summary>
    public string BaseName { get; }

    /// <summary><c>&lt;storeDir&gt;/&lt;hash&gt;-&lt;name&gt;</c>.</summary>
    public string FullPath { get; }

    public static StorePath Parse(string path, string storeDir = DefaultStoreDir)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!TryParse(path, storeDir, out var result, out var error))
        {
            throw CacheException.Invalid(error);
        }

        return result;
    }

    public static bool TryParse([NotNullWhen(true)] string? path, [NotNullWhen(true)] out StorePath? result) =>
        TryParse(path, DefaultStoreDir, out result);

    public static bool TryParse([NotNullWhen(true)] string? path, string storeDir, [NotNullWhen(true)] out StorePath? result)
    {
        if (path is null)
        {
            result = null;
            return false;
        }

        return TryParse(path, storeDir, out result, out _);
    }

    /// <summary>Parses a full path, and on failure says what is wrong in <paramref name="error"/>.</summary>
    public static bool TryParse(string path, string storeDir, [NotNullWhen(true)] out StorePath? result, [NotNullWhen(false)] out string? error)
    {
        result = null;
        storeDir = NormalizeStoreDir(storeDir);
        if (path.Length <= storeDir.Length + 1 || !path.StartsWith(storeDir, StringComparison.Ordinal) || path[storeDir.Length] != '/')
        {
            error = $"path '{ClientText.Cut(path)}' is not in the Nix store {storeDir}";
            return false;
        }

        var baseName = path[(storeDir.Length + 1)..];
        if (!TryValidateBaseName(baseName, out error))
        {
            error = $"store path '{ClientText.Cut(path)}': {error}";
            return false;
        }

        result = new StorePath(storeDir, baseName);
        return true;
    }

    /// <summary>Parses <c>&lt;hash&gt;-&lt;name&gt;</c> alone (as in narinfo References) in the given store.</summary>
    public static StorePath FromBaseName(string baseName, string storeDir = DefaultStoreDir)
    {
        ArgumentNullException.ThrowIfNull(baseName);
        if (!TryValidateBaseName(baseName, out var error))
        {
            throw CacheException.Invalid($"store path base name '{ClientText.Cut(baseName)}': {error}");
        }

        return new StorePath(NormalizeStoreDir(storeDir), baseName);
    }

    public static bool TryFromBaseName([NotNullWhen(true)] string? baseName, string storeDir, [NotNullWhen(true)] out StorePath? result)
    {
        result = null;
        if (baseName is null || !TryValidateBaseName(baseName, out _))
        {
            return false;
        }

        result = new StorePath(NormalizeStoreDir(storeDir), baseName);
        return true;
    }

    /// <summary>True for <c>&lt;32 nix32 chars&gt;-&lt;valid name&gt;</c>.</summary>
    public static bool IsValidBaseName(ReadOnlySpan<char> baseName) => TryValidateBaseName(baseName, out _);

    /// <summary>Exactly 32 characters of the nix32 alphabet; used on the hot path to validate URLs.</summary>
    public static bool IsValidHashPart(ReadOnlySpan<char> hashPart) =>
        hashPart.Length == HashPartLength && NixBase32.IsValid(hashPart);

    /// <summary>Nix's name rules: 1..211 characters of <c>A-Za-z0-9+-._?=</c>, not starting with a period.</summary>
    public static bool IsValidName(ReadOnlySpan<char> name) => ValidateName(name) is null;

    private static bool TryValidateBaseName(ReadOnlySpan<char> baseName, [NotNullWhen(false)] out string? error)
    {
        if (baseName.Length < HashPartLength + 1 || baseName[HashPartLength] != '-')
        {
            error = "expected <32-character hash>-<name>";
            return false;
        }

        if (!IsValidHashPart(baseName[..HashPartLength]))
        {
            error = "the hash part is not 32 nix32 characters";
            return false;
        }

        error = ValidateName(baseName[(HashPartLength + 1)..]);
        return error is null;
    }

    private static string? ValidateName(ReadOnlySpan<char> name)
    {
        if (name.IsEmpty)
        {
            return "the name is empty";
        }

        if (name.Length > MaxNameLength)
        {
            return $"the name is longer than {MaxNameLength} characters";
        }

        if (name[0] == '.')
        {
            return "the name starts with a period";
        }

        foreach (var c in name)
        {
            if (!IsNameChar(c))
            {
                return $"the name contains the forbidden character '{c}'";
            }
        }

        return null;
    }

    private static bool IsNameChar(char c) =>
        c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '+' or '-' or '.' or '_' or '?' or '=';

    private static string NormalizeStoreDir(string storeDir)
    {
        ArgumentNullException.ThrowIfNull(storeDir);
        var trimmed = storeDir.Length > 1 ? storeDir.TrimEnd('/') : storeDir;
        if (trimmed.Length == 0 || trimmed[0] != '/')
        {
            throw CacheException.Invalid($"store directory '{storeDir}' is not an absolute path");
        }

        return trimmed;
    }


    public override string ToString() => FullPath;

    public bool Equals(StorePath? other) => other is not null && string.Equals(FullPath, other.FullPath, StringComparison.Ordinal);

    public override bool Equals(object? obj) => Equals(obj as StorePath);

    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(FullPath);

    /// <summary>Orders as Nix does (by base name, ordinal), which is the order of References.</summary>
    public int CompareTo(StorePath? other) =>
        other is null ? 1 : string.CompareOrdinal(BaseName, other.BaseName);

    public static bool operator ==(StorePath? left, StorePath? right) => Equals(left, right);

    public static bool operator !=(StorePath? left, StorePath? right) => !Equals(left, right);
}
