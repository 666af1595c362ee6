using System.Runtime.InteropServices;

namespace Flywheel.Cache.Compression.Native;

/// <summary>P/Invoke for the system libzstd, only what streaming compression needs (decompression stays ZstdSharp's).</summary>
internal static unsafe partial class LibZstd
{
    private const string Library = "libzstd.so.1";

    /// <summary>ZSTD_c_compressionLevel (ZSTD_cParameter).</summary>
    public const int CompressionLevel = 100;

    /// <summary>ZSTD_EndDirective: ZSTD_e_continue and ZSTD_e_end.</summary>
    public const int Continue = 0;
    public const int End = 2;

    /// <summary>ZSTD_inBuffer.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct InBuffer
    {
        public byte* Src;
        public nuint Size;
        public nuint Pos;
    }

    /// <summary>ZSTD_outBuffer.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct OutBuffer
    {
        public byte* Dst;
        public nuint Size;
        public nuint Pos;
    }

    [LibraryImport(Library, EntryPoint = "ZSTD_createCCtx")]
    public static partial void* CreateCCtx();

    [LibraryImport(Library, EntryPoint = "ZSTD_freeCCtx")]
    public static partial nuint FreeCCtx(void* cctx);

    [LibraryImport(Library, EntryPoint = "ZSTD_CCtx_setParameter")]
    public static partial nuint SetParameter(void* cctx, int parameter, int value);

    [LibraryImport(Library, EntryPoint = "ZSTD_CCtx_setPledgedSrcSize")]
    public static partial nuint SetPledgedSrcSize(void* cctx, ulong size);

    [LibraryImport(Library, EntryPoint = "ZSTD_compressStream2")]
    public static partial nuint CompressStream2(void* cctx, OutBuffer* output, InBuffer* input, int endOp);

    [LibraryImport(Library, EntryPoint = "ZSTD_isError")]
    public static partial uint IsError(nuint code);

    [LibraryImport(Library, EntryPoint = "ZSTD_getErrorName")]
    public static partial byte* GetErrorName(nuint code);

    public static bool Failed(nuint code) => IsError(code) != 0;

    public static string Describe(nuint code) => Marshal.PtrToStringUTF8((nint)GetErrorName(code)) ?? $"zstd error {code}";
}
