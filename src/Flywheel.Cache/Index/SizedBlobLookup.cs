using System.Buffers;
using System.Numerics;
using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Index;

/// <summary>
/// The dialect-free half of <see cref="IBlobIndex.FindMissingSizedBlobsAsync"/>: the asked blobs folded in memory
/// to their distinct digests (the empty blob at size 0 left out: it is never missing), packed 32 bytes each into one
/// binary parameter; the statement answers the stored size of every digest it knows by the digest's index in the
/// pack (<see cref="Found"/>), and <see cref="MissingPositions"/> works out which asked positions are missing.
/// </summary>
/// <remarks>
/// Every buffer is rented (dispose the lookup to return them): a 10,000-digest call used to allocate about 1.2 MB on
/// the large object heap (the pack, a dictionary, per-digest arrays), and those collections ran a gen-2 GC every few
/// calls, which costs more the longer a gateway has run. Distinct digests are found with an open-addressing table
/// keyed by the digest's own bits (SHA-256 output is uniform).
/// </remarks>
internal sealed class SizedBlobLookup : IDisposable
{
    private const int Repeat = -1;

    private readonly IReadOnlyList<SizedBlob> _asked;
    private int[]? _slots; // per asked position: its digest's index in the pack, or Repeat
    private long[]? _firstSizes; // per packed digest: the size it was first asked at
    private long[]? _stored; // per packed digest: the size the index has, or -1
    private byte[]? _packed;
    private HashSet<SizedBlob>? _otherSizes; // a digest asked at a second size (rare): each such pair once

    private SizedBlobLookup(IReadOnlyList<SizedBlob> asked)
    {
        _asked = asked;
    }

    /// <summary>The distinct digests, 32 bytes each, in first-asked order.</summary>
    public ReadOnlyMemory<byte> Packed => _packed.AsMemory(0, Count * BlobDigest.ByteLength);

    /// <summary>How many digests <see cref="Packed"/> holds; 0 when nothing needs asking.</summary>
    public int Count { get; private set; }

    /// <summary>Folds <paramref name="blobs"/>; a negative size is refused.</summary>
    public static SizedBlobLookup Create(IReadOnlyList<SizedBlob> blobs)
    {
        ArgumentNullException.ThrowIfNull(blobs);
        var lookup = new SizedBlobLookup(blobs);
        try
        {
            lookup.Fold();
            return lookup;
        }
        catch
        {
            lookup.Dispose();
            throw;
        }
    }

    /// <summary>The digests FindMissingBlobs asks the index about: all but the empty blob, which is never missing.</summary>
    public static List<BlobDigest> WithoutEmpty(IReadOnlyCollection<BlobDigest> digests)
    {
        ArgumentNullException.ThrowIfNull(digests);
        var asked = new List<BlobDigest>(digests.Count);
        foreach (var digest in digests)
        {
            if (digest != BlobDigest.Empty)
            {
                asked.Add(digest);
            }
        }

        return asked;
    }

    /// <summary>Records that the index has the digest at <paramref name="index"/> of the pack, at <paramref name="size"/>.</summary>
    public void Found(int index, long size) => _stored![index] = size;

    /// <summary>Ascending positions of the asked blobs the index lacks at their size, each (digest, size) once.</summary>
    public IReadOnlyList<int> MissingPositions()
    {
        var missing = new List<int>();
        for (var i = 0; i < _asked.Count; i++)
        {
            var slot = _slots![i];
            if (slot != Repeat && _stored![slot] != _asked[i].Size)
            {
                missing.Add(i);
            }
        }

        return missing;
    }

    public void Dispose()
    {
        PooledArrays.Return(ref _slots);
        PooledArrays.Return(ref _firstSizes);
        PooledArrays.Return(ref _stored);
        PooledArrays.Return(ref _packed);
    }

    private void Fold()
    {
        var count = _asked.Count;
        _slots = ArrayPool<int>.Shared.Rent(Math.Max(count, 1));
        _firstSizes = ArrayPool<long>.Shared.Rent(Math.Max(count, 1));
        _packed = ArrayPool<byte>.Shared.Rent(Math.Max(count, 1) * BlobDigest.ByteLength);
        var distinct = ArrayPool<BlobDigest>.Shared.Rent(Math.Max(count, 1));
        var capacity = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(8, count * 2));
        var table = ArrayPool<int>.Shared.Rent(capacity); // packed index + 1; 0 is free
        try
        {
            table.AsSpan(0, capacity).Clear();
            var mask = capacity - 1;
            for (var i = 0; i < count; i++)
            {
                var blob = _asked[i];
                if (blob.Size < 0)
                {
                    throw new ArgumentOutOfRangeException("blobs", $"blob {blob.Digest} has a negative size");
                }

                if (blob.Size == 0 && blob.Digest == BlobDigest.Empty)
                {
                    _slots[i] = Repeat;
                    continue;
                }

                var probe = blob.Digest.GetHashCode() & mask;
                while (table[probe] != 0 && distinct[table[probe] - 1] != blob.Digest)
                {
                    probe = (probe + 1) & mask;
                }

                if (table[probe] != 0)
                {
                    var index = table[probe] - 1;
                    var repeat = _firstSizes[index] == blob.Size || !(_otherSizes ??= []).Add(blob);
                    _slots[i] = repeat ? Repeat : index;
                    continue;
                }

                var added = Count++;
                table[probe] = added + 1;
                distinct[added] = blob.Digest;
                _firstSizes[added] = blob.Size;
                blob.Digest.WriteBytes(_packed.AsSpan(added * BlobDigest.ByteLength, BlobDigest.ByteLength));
                _slots[i] = added;
            }

            _stored = ArrayPool<long>.Shared.Rent(Math.Max(Count, 1));
            _stored.AsSpan(0, Count).Fill(-1L);
        }
        finally
        {
            ArrayPool<int>.Shared.Return(table);
            ArrayPool<BlobDigest>.Shared.Return(distinct);
        }
    }
}
