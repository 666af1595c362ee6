using System.Runtime.InteropServices;

namespace Flywheel.Cache.Compression.Native;

/// <summary>P/Invoke for the system libzstd: streaming decompression and compression.</summary>
internal static unsafe partial class LibZstd
{
    private const string Library = "libzstd.so.1";

    /// <summary>ZSTD_c_compressionLevel.</summary>
    public const int CompressionLevelParameter = 100;

    /// <summary>ZSTD_EndDirective.</summary>
    public const int EndContinue = 0;
    public const int EndFlush = 1;
    public const int EndEnd = 2;

    [StructLayout(LayoutKind.Sequential)]
    public struct InBuffer
    {
        public byte* Src;
        public nuint Size;
        public nuint Pos;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct OutBuffer
    {
        public byte* Dst;
        public nuint Size;
        public nuint Pos;
    }

    [LibraryImport(Library, EntryPoint = "ZSTD_createDStream")]
    public static partial nint CreateDStream();

    [LibraryImport(Library, EntryPoint = "ZSTD_freeDStream")]
    public static partial nuint FreeDStream(nint zds);

    [LibraryImport(Library, EntryPoint = "ZSTD_initDStream")]
    public static partial nuint InitDStream(nint zds);

    [LibraryImport(Library, EntryPoint = "ZSTD_decompressStream")]
    public static partial nuint DecompressStream(nint zds, OutBuffer* output, InBuffer* input);

    [LibraryImport(Library, EntryPoint = "ZSTD_createCStream")]
    public static partial nint CreateCStream();

    [LibraryImport(Library, EntryPoint = "ZSTD_freeCStream")]
    public static partial nuint FreeCStream(nint zcs);

    [LibraryImport(Library, EntryPoint = "ZSTD_CCtx_setParameter")]
    public static partial nuint CctxSetParameter(nint cctx, int parameter, int value);

    [LibraryImport(Library, EntryPoint = "ZSTD_compressStream2")]
    public static partial nuint CompressStream2(nint cctx, OutBuffer* output, InBuffer* input, int endOp);

    [LibraryImport(Library, EntryPoint = "ZSTD_isError")]
    public static partial uint IsError(nuint code);

    [LibraryImport(Library, EntryPoint = "ZSTD_getErrorName")]
    public static partial nint GetErrorName(nuint code);

    public static string ErrorName(nuint code) => Marshal.PtrToStringUTF8(GetErrorName(code)) ?? "unknown zstd error";
}
