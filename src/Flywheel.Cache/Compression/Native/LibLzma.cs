using System.Runtime.InteropServices;

namespace Flywheel.Cache.Compression.Native;

/// <summary>P/Invoke for the system liblzma (xz), only what stream decoding and encoding need.</summary>
internal static unsafe partial class LibLzma
{
    private const string Library = "liblzma.so.5";

    public const int LZMA_OK = 0;
    public const int LZMA_STREAM_END = 1;
    public const int LZMA_MEM_ERROR = 5;
    public const int LZMA_MEMLIMIT_ERROR = 6;
    public const int LZMA_FORMAT_ERROR = 7;
    public const int LZMA_OPTIONS_ERROR = 8;
    public const int LZMA_DATA_ERROR = 9;
    public const int LZMA_BUF_ERROR = 10;

    public const int LZMA_RUN = 0;
    public const int LZMA_FINISH = 3;

    public const uint LZMA_CONCATENATED = 0x08;

    /// <summary>lzma_stream; LZMA_STREAM_INIT is all zeros. Kept in native memory so it never moves.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct LzmaStream
    {
        public byte* NextIn;
        public nuint AvailIn;
        public ulong TotalIn;
        public byte* NextOut;
        public nuint AvailOut;
        public ulong TotalOut;
        public void* Allocator;
        public void* Internal;
        public void* ReservedPtr1;
        public void* ReservedPtr2;
        public void* ReservedPtr3;
        public void* ReservedPtr4;
        public ulong SeekPos;
        public ulong ReservedInt2;
        public nuint ReservedInt3;
        public nuint ReservedInt4;
        public int ReservedEnum1;
        public int ReservedEnum2;
    }

    [LibraryImport(Library, EntryPoint = "lzma_stream_decoder")]
    public static partial int StreamDecoder(LzmaStream* strm, ulong memlimit, uint flags);

    /// <summary>lzma_check: CRC64, what the xz tool (and Nix's libarchive writer) puts in an xz stream by default.</summary>
    public const int LZMA_CHECK_CRC64 = 4;

    [LibraryImport(Library, EntryPoint = "lzma_easy_encoder")]
    public static partial int EasyEncoder(LzmaStream* strm, uint preset, int check);

    [LibraryImport(Library, EntryPoint = "lzma_code")]
    public static partial int Code(LzmaStream* strm, int action);

    [LibraryImport(Library, EntryPoint = "lzma_end")]
    public static partial void End(LzmaStream* strm);

    public static string Describe(int ret) => ret switch
    {
        LZMA_MEM_ERROR => "out of memory",
        LZMA_MEMLIMIT_ERROR => "memory limit reached",
        LZMA_FORMAT_ERROR => "not in the xz format",
        LZMA_OPTIONS_ERROR => "unsupported xz options",
        LZMA_DATA_ERROR => "corrupt xz data",
        LZMA_BUF_ERROR => "truncated xz data",
        _ => $"liblzma error {ret}",
    };
}
