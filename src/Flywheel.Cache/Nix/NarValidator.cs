using System.Buffers;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text;

namespace Flywheel.Cache.Nix;

/// <summary>
/// The rules of the NAR format (Nix's archive) that both of its parsers apply: <see cref="NarReader"/>, which walks an
/// archive for its files, and <see cref="NarValidator"/>, which checks an upload as it streams in.
/// </summary>
internal static class NarFormat
{
    /// <summary>Longest name, symlink target or keyword accepted (PATH_MAX on Linux).</summary>
    public const int MaxTokenLength = 4096;

    /// <summary>Deepest directory nesting accepted.</summary>
    public const int MaxDepth = 256;

    /// <summary>A directory entry's name: not empty, <c>.</c> or <c>..</c>, and without <c>/</c> or NUL.</summary>
    public static bool IsValidEntryName(ReadOnlySpan<byte> name) =>
        name.Length > 0 && !name.SequenceEqual("."u8) && !name.SequenceEqual(".."u8) && name.IndexOfAny((byte)'/', (byte)0) < 0;

    public static CacheException Malformed(string problem) => CacheException.Invalid($"malformed NAR: {problem}");
}

/// <summary>
/// Checks that a byte stream is exactly one well-formed NAR, fed chunk by chunk as it is decompressed (push, not pull:
/// the upload's hashing pass drives it). It follows Nix's grammar: the <c>nix-archive-1</c> magic; every string a
/// little-endian length, its bytes and zero padding to 8; nodes <c>( type regular [executable ""] contents &lt;n&gt; )</c>,
/// <c>( type symlink target &lt;t&gt; )</c> or <c>( type directory (entry ( name &lt;n&gt; node &lt;node&gt; ))* )</c> with entry
/// names valid and strictly ascending (bytewise, as Nix sorts them); and nothing after the root node's <c>)</c>.
/// File contents are counted, never buffered; memory is one token and the names along the current path. No allocation
/// per chunk.
/// </summary>
public sealed class NarValidator : IDisposable
{
    private enum Expect : byte
    {
        Magic,
        NodeOpen,
        TypeKeyword,
        TypeValue,
        RegularTag,
        ExecutableMarker,
        ContentsKeyword,
        Contents,
        TargetKeyword,
        Target,
        NodeClose,
        DirectoryItem,
        EntryOpen,
        NameKeyword,
        Name,
        NodeKeyword,
        EntryClose,
        End,
    }

    private enum Phase : byte
    {
        Length,
        Bytes,
        Padding,
    }

    // Rented (one NAR upload holds ~6 KB of them), given back by Dispose.
    private byte[] _token = ArrayPool<byte>.Shared.Rent(NarFormat.MaxTokenLength);
    private int[] _nameStart = ArrayPool<int>.Shared.Rent(NarFormat.MaxDepth + 2);
    private int[] _nameLength = ArrayPool<int>.Shared.Rent(NarFormat.MaxDepth + 2);
    private byte[] _path = ArrayPool<byte>.Shared.Rent(256); // the entry names along the current path, the last one per directory level
    private Expect _expect = Expect.Magic;
    private Phase _phase = Phase.Length;
    private int _depth; // of the node being read: 0 is the root
    private ulong _length;
    private int _lengthBytes;
    private long _remaining; // of the current string's bytes, then of its padding
    private int _tokenLength;

    /// <summary>Gives the rented buffers back; the validator is not used after this.</summary>
    public void Dispose()
    {
        Return(ref _token);
        Return(ref _path);
        Return(ref _nameStart);
        Return(ref _nameLength);
    }

    private static void Return<T>(ref T[] array)
    {
        if (array.Length > 0)
        {
            ArrayPool<T>.Shared.Return(array);
            array = [];
        }
    }

    /// <summary>Bytes seen so far.</summary>
    public long Size { get; private set; }

    /// <summary>True once the root node is closed: a complete NAR (anything more is an error).</summary>
    public bool IsComplete => _expect == Expect.End;

    /// <exception cref="CacheException">Invalid, at the first byte that breaks the format.</exception>
    public void Append(ReadOnlySpan<byte> data)
    {
        Size += data.Length;
        while (!data.IsEmpty)
        {
            if (_expect == Expect.End)
            {
                throw Malformed("data after the end of the archive");
            }

            switch (_phase)
            {
                case Phase.Length:
                    while (_lengthBytes < 8 && !data.IsEmpty)
                    {
                        _length |= (ulong)data[0] << (8 * _lengthBytes++);
                        data = data[1..];
                    }

                    if (_lengthBytes == 8)
                    {
                        StartString();
                    }

                    break;

                case Phase.Bytes:
                    var n = (int)Math.Min(_remaining, data.Length);
                    if (_expect != Expect.Contents)
                    {
                        data[..n].CopyTo(_token.AsSpan(_tokenLength));
                        _tokenLength += n;
                    }

                    _remaining -= n;
                    data = data[n..];
                    if (_remaining == 0)
                    {
                        StartPadding();
                    }

                    break;

                case Phase.Padding:
                    var p = (int)Math.Min(_remaining, data.Length);
                    if (data[..p].IndexOfAnyExcept((byte)0) >= 0)
                    {
                        throw Malformed("non-zero padding");
                    }

                    _remaining -= p;
                    data = data[p..];
                    if (_remaining == 0)
                    {
                        EndString();
                    }

                    break;
            }
        }
    }

    /// <summary>Checks that the bytes seen are a whole NAR.</summary>
    /// <exception cref="CacheException">Invalid, when the archive is empty or ends before its root node is closed.</exception>
    public void Complete()
    {
        if (_expect != Expect.End)
        {
            throw Size == 0
                ? CacheException.Invalid("the upload contains no NAR data")
                : Malformed($"it ends early, after {Size} bytes (truncated)");
        }
    }

    private void StartString()
    {
        _lengthBytes = 0;
        if (_expect == Expect.Magic && _length != (ulong)"nix-archive-1"u8.Length)
        {
            throw NotNar();
        }

        if (_length > long.MaxValue)
        {
            throw Malformed("a length beyond 2^63");
        }

        if (_expect != Expect.Contents && _length > NarFormat.MaxTokenLength)
        {
            throw Malformed($"a name or token of {_length} bytes (at most {NarFormat.MaxTokenLength})");
        }

        _remaining = (long)_length;
        _tokenLength = 0;
        _phase = Phase.Bytes;
        if (_remaining == 0)
        {
            StartPadding();
        }
    }

    private void StartPadding()
    {
        _remaining = (8 - (long)(_length % 8)) % 8;
        _phase = Phase.Padding;
        if (_remaining == 0)
        {
            EndString();
        }
    }

    private void EndString()
    {
        _phase = Phase.Length;
        _length = 0;
        OnToken(_token.AsSpan(0, _tokenLength));
    }

    /// <summary>The grammar: one complete string (for contents, empty: only its length mattered).</summary>
    private void OnToken(ReadOnlySpan<byte> token)
    {
        switch (_expect)
        {
            case Expect.Magic:
                _expect = token.SequenceEqual("nix-archive-1"u8)
                    ? Expect.NodeOpen
                    : throw NotNar();
                break;
            case Expect.NodeOpen:
                _expect = Keyword(token, "("u8, "(", Expect.TypeKeyword);
                break;
            case Expect.TypeKeyword:
                _expect = Keyword(token, "type"u8, "type", Expect.TypeValue);
                break;
            case Expect.TypeValue:
                _expect = token.SequenceEqual("regular"u8) ? Expect.RegularTag
                    : token.SequenceEqual("symlink"u8) ? Expect.TargetKeyword
                    : token.SequenceEqual("directory"u8) ? StartDirectory()
                    : throw Unexpected("a node type (regular, symlink or directory)", token);
                break;
            case Expect.RegularTag:
                _expect = token.SequenceEqual("executable"u8) ? Expect.ExecutableMarker
                    : token.SequenceEqual("contents"u8) ? Expect.Contents
                    : throw Unexpected("'executable' or 'contents'", token);
                break;
            case Expect.ExecutableMarker:
                _expect = Keyword(token, ""u8, "", Expect.ContentsKeyword);
                break;
            case Expect.ContentsKeyword:
                _expect = Keyword(token, "contents"u8, "contents", Expect.Contents);
                break;
            case Expect.Contents:
            case Expect.Target:
                _expect = Expect.NodeClose;
                break;
            case Expect.TargetKeyword:
                _expect = Keyword(token, "target"u8, "target", Expect.Target);
                break;
            case Expect.NodeClose:
                _ = Keyword(token, ")"u8, ")", Expect.NodeClose);
                _expect = CloseNode();
                break;
            case Expect.DirectoryItem:
                _expect = token.SequenceEqual("entry"u8) ? Expect.EntryOpen
                    : token.SequenceEqual(")"u8) ? CloseNode()
                    : throw Unexpected("'entry' or ')'", token);
                break;
            case Expect.EntryOpen:
                _expect = Keyword(token, "("u8, "(", Expect.NameKeyword);
                break;
            case Expect.NameKeyword:
                _expect = Keyword(token, "name"u8, "name", Expect.Name);
                break;
            case Expect.Name:
                SetEntryName(token);
                _expect = Expect.NodeKeyword;
                break;
            case Expect.NodeKeyword:
                _ = Keyword(token, "node"u8, "node", Expect.NodeOpen);
                if (_depth == NarFormat.MaxDepth)
                {
                    throw Malformed($"directories nested deeper than {NarFormat.MaxDepth}");
                }

                _depth++;
                _expect = Expect.NodeOpen;
                break;
            case Expect.EntryClose:
                _expect = Keyword(token, ")"u8, ")", Expect.DirectoryItem);
                break;
            default:
                throw new UnreachableException();
        }
    }

    private Expect StartDirectory()
    {
        _nameLength[_depth] = -1; // no entry yet
        return Expect.DirectoryItem;
    }

    /// <summary>After a node's ')': the archive ends with the root, any other node is an entry's, whose ')' follows.</summary>
    private Expect CloseNode()
    {
        if (_depth == 0)
        {
            return Expect.End;
        }

        _depth--;
        return Expect.EntryClose;
    }

    /// <summary>Records the name of the next entry of the directory at <see cref="_depth"/>, which must sort after the previous one.</summary>
    private void SetEntryName(ReadOnlySpan<byte> name)
    {
        if (!NarFormat.IsValidEntryName(name))
        {
            throw Malformed($"invalid entry name '{Printable(name)}' in directory '{CurrentPath()}'");
        }

        var start = _depth == 0 ? 0 : _nameStart[_depth - 1] + _nameLength[_depth - 1] + 1;
        if (_nameLength[_depth] >= 0 && _path.AsSpan(start, _nameLength[_depth]).SequenceCompareTo(name) >= 0)
        {
            throw Malformed($"entries of directory '{CurrentPath()}' are not sorted ('{Printable(_path.AsSpan(start, _nameLength[_depth]))}' before '{Printable(name)}')");
        }

        if (start + name.Length + 1 > _path.Length)
        {
            var larger = ArrayPool<byte>.Shared.Rent(Math.Max(_path.Length * 2, start + name.Length + 1));
            _path.AsSpan(0, start).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_path);
            _path = larger;
        }

        name.CopyTo(_path.AsSpan(start));
        _path[start + name.Length] = (byte)'/';
        _nameStart[_depth] = start;
        _nameLength[_depth] = name.Length;
    }

    private Expect Keyword(ReadOnlySpan<byte> token, ReadOnlySpan<byte> expected, string expectedText, Expect next) =>
        token.SequenceEqual(expected) ? next : throw Unexpected($"'{expectedText}'", token);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private CacheException Unexpected(string expected, ReadOnlySpan<byte> found) =>
        Malformed($"expected {expected}, found '{Printable(found)}'" + (_depth > 0 || _expect > Expect.NodeOpen ? $" in '{CurrentPath()}'" : ""));

    /// <summary>The directory being read (its entries so far), '/'-separated, for messages.</summary>
    private string CurrentPath()
    {
        // Names of the directories above the node being read: levels 0 .. _depth-1.
        var end = _depth == 0 ? 0 : _nameStart[_depth - 1] + _nameLength[_depth - 1];
        return "/" + Printable(_path.AsSpan(0, end));
    }

    private static string Printable(ReadOnlySpan<byte> text)
    {
        var s = ClientText.Cut(Encoding.UTF8.GetString(text[..Math.Min(text.Length, 400)]));
        return string.Create(s.Length, s, static (span, source) =>
        {
            for (var i = 0; i < source.Length; i++)
            {
                span[i] = char.IsControl(source[i]) ? '?' : source[i];
            }
        });
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static CacheException NotNar() =>
        CacheException.Invalid("the upload is not a NAR: it does not start with the 'nix-archive-1' header");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static CacheException Malformed(string problem) => NarFormat.Malformed(problem);
}
