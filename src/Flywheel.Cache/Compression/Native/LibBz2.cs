using System.Runtime.InteropServices;

namespace Flywheel.Cache.Compression.Native;

/// <summary>P/Invoke for the system libbz2, only what decompression needs.</summary>
internal static unsafe partial class LibBz2
{
    private const string Library = "libbz2.so.1.0";

    public const int BZ_OK = 0;
    public const int BZ_STREAM_END = 4;
    public const int BZ_PARAM_ERROR = -2;
    public const int BZ_MEM_ERROR = -3;
    public const int BZ_DATA_ERROR = -4;
    public const int BZ_DATA_ERROR_MAGIC = -5;

    /// <summary>bz_stream. libbz2 remembers its address, so it lives in native memory and never moves.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct BzStream
    {
        public byte* NextIn;
        public uint AvailIn;
        public uint TotalInLo32;
        public uint TotalInHi32;
        public byte* NextOut;
        public uint AvailOut;
        public uint TotalOutLo32;
        public uint TotalOutHi32;
        public void* State;
        public void* BzAlloc;
        public void* BzFree;
        public void* Opaque;
    }

    [LibraryImport(Library, EntryPoint = "BZ2_bzDecompressInit")]
    public static partial int DecompressInit(BzStream* strm, int verbosity, int small);

    [LibraryImport(Library, EntryPoint = "BZ2_bzDecompress")]
    public static partial int Decompress(BzStream* strm);

    [LibraryImport(Library, EntryPoint = "BZ2_bzDecompressEnd")]
    public static partial int DecompressEnd(BzStream* strm);

    public static string Describe(int ret) => ret switch
    {
        BZ_MEM_ERROR => "out of memory",
        BZ_DATA_ERROR => "corrupt bzip2 data",
        BZ_DATA_ERROR_MAGIC => "not in the bzip2 format",
        BZ_PARAM_ERROR => "bzip2 parameter error",
        _ => $"libbz2 error {ret}",
    };
}
