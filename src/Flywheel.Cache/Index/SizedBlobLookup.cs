using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Index;

/// <summary>
/// The dialect-free half of <see cref="IMetadataStore.FindMissingSizedBlobsAsync"/>: the asked blobs folded in memory
/// to their distinct digests (the empty blob at size 0 left out: it is never missing), packed 32 bytes each into one
/// binary parameter; the statement answers the stored size of every digest it knows by the digest's index in the
/// pack (<see cref="Found"/>), and <see cref="MissingPositions"/> works out which asked positions are missing.
/// </summary>
internal sealed class SizedBlobLookup
{
    private const int Repeat = -1;

    private readonly IReadOnlyList<SizedBlob> _asked;
    private readonly int[] _slots; // per asked position: its digest's index in the pack, or Repeat
    private readonly long[] _stored; // per packed digest: the size the index has, or -1

    private SizedBlobLookup(IReadOnlyList<SizedBlob> asked, int[] slots, byte[] packed, int count)
    {
        _asked = asked;
        _slots = slots;
        Packed = packed;
        Count = count;
        _stored = new long[count];
        Array.Fill(_stored, -1L);
    }

    /// <summary>The distinct digests, 32 bytes each, in first-asked order.</summary>
    public byte[] Packed { get; }

    /// <summary>How many digests <see cref="Packed"/> holds; 0 when nothing needs asking.</summary>
    public int Count { get; }

    /// <summary>Folds <paramref name="blobs"/>; a negative size is refused.</summary>
    public static SizedBlobLookup Create(IReadOnlyList<SizedBlob> blobs)
    {
        ArgumentNullException.ThrowIfNull(blobs);
        var slots = new int[blobs.Count];
        var indexes = new Dictionary<BlobDigest, int>(blobs.Count);
        var firstSizes = new List<long>(blobs.Count);
        HashSet<SizedBlob>? otherSizes = null; // a digest asked at a second size (rare): each such pair once
        var packed = new byte[checked(blobs.Count * BlobDigest.ByteLength)];
        for (var i = 0; i < blobs.Count; i++)
        {
            var blob = blobs[i];
            if (blob.Size < 0)
            {
                throw new ArgumentOutOfRangeException(nameof(blobs), $"blob {blob.Digest} has a negative size");
            }

            if (blob.Size == 0 && blob.Digest == BlobDigest.Empty)
            {
                slots[i] = Repeat;
                continue;
            }

            if (indexes.TryGetValue(blob.Digest, out var index))
            {
                var repeat = firstSizes[index] == blob.Size || !(otherSizes ??= []).Add(blob);
                slots[i] = repeat ? Repeat : index;
                continue;
            }

            index = indexes.Count;
            indexes.Add(blob.Digest, index);
            firstSizes.Add(blob.Size);
            blob.Digest.WriteBytes(packed.AsSpan(index * BlobDigest.ByteLength, BlobDigest.ByteLength));
            slots[i] = index;
        }

        var length = indexes.Count * BlobDigest.ByteLength;
        return new SizedBlobLookup(blobs, slots, length == packed.Length ? packed : packed.AsSpan(0, length).ToArray(), indexes.Count);
    }

    /// <summary>Records that the index has the digest at <paramref name="index"/> of the pack, at <paramref name="size"/>.</summary>
    public void Found(int index, long size) => _stored[index] = size;

    /// <summary>Ascending positions of the asked blobs the index lacks at their size, each (digest, size) once.</summary>
    public IReadOnlyList<int> MissingPositions()
    {
        var missing = new List<int>();
        for (var i = 0; i < _slots.Length; i++)
        {
            var slot = _slots[i];
            if (slot != Repeat && _stored[slot] != _asked[i].Size)
            {
                missing.Add(i);
            }
        }

        return missing;
    }
}
