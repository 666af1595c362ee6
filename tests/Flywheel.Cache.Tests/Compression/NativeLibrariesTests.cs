using System.Reflection;
using System.Runtime.InteropServices;
using Flywheel.Cache.Compression;

namespace Flywheel.Cache.Tests.Compression;

public class NativeLibrariesTests
{
    /// <summary>
    /// zstd is managed code (ZstdSharp); only xz and bzip2 still go through the system's liblzma and libbz2, so
    /// these two are the only native libraries the compressions load.
    /// </summary>
    [Fact]
    public void Only_xz_and_bzip2_call_a_native_library()
    {
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.Instance | BindingFlags.DeclaredOnly;
        var libraries = typeof(IDecompressor).Assembly.GetTypes()
            .Where(type => type.Namespace?.StartsWith(typeof(IDecompressor).Namespace!, StringComparison.Ordinal) == true)
            .SelectMany(type => type.GetMethods(all))
            .Where(method => method.Attributes.HasFlag(MethodAttributes.PinvokeImpl))
            .Select(method => method.GetCustomAttribute<DllImportAttribute>()!.Value)
            .Distinct()
            .Order(StringComparer.Ordinal);

        Assert.Equal(["libbz2.so.1.0", "liblzma.so.5"], libraries);
    }
}
