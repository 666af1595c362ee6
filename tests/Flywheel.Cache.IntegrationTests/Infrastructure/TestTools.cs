using System.Security.Cryptography;

namespace Flywheel.Cache.IntegrationTests.Infrastructure;

/// <summary>Small helpers the real-component harnesses share.</summary>
internal static class TestTools
{
    /// <summary>A random string of nix-base32 characters: safe in store path names, Bazel labels and file names.</summary>
    public static string RandomNonce(int length)
    {
        const string alphabet = "0123456789abcdfghijklmnpqrsvwxyz";
        return string.Create(length, 0, (span, _) =>
        {
            for (var i = 0; i < span.Length; i++)
            {
                span[i] = alphabet[RandomNumberGenerator.GetInt32(alphabet.Length)];
            }
        });
    }
}
