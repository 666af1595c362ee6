using System.Buffers;
using System.IO.Pipelines;
using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Upstream;

/// <summary>
/// The client's side of a NAR being fetched from upstream: bytes <c>[offset, offset + count)</c> of it, as they arrive.
/// The last byte is held back until the download has been verified and stored, so a client never receives a
/// complete response that fails verification: on a failure it gets the error instead (a cut-off response).
/// Disposing it (the client went away) detaches it; the download goes on.
/// </summary>
internal sealed class LiveNarStream : ReadOnlyStream
{
    private readonly PipeReader _reader;
    private readonly long _end;
    private long _position; // position in the NAR file of the next byte the pipe gives
    private long _skip;
    private bool _done;

    public LiveNarStream(PipeReader reader, long offset, long count)
    {
        _reader = reader;
        _skip = offset;
        _end = offset + count;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_done || buffer.IsEmpty)
        {
            return 0;
        }

        while (true)
        {
            var result = await _reader.ReadAsync(cancellationToken).ConfigureAwait(false); // throws the download's failure
            var data = result.Buffer;
            if (_skip > 0)
            {
                var skipped = Math.Min(_skip, data.Length);
                _skip -= skipped;
                _position += skipped;
                data = data.Slice(skipped);
            }

            // The final byte waits for the verdict; everything before it goes out as it arrives.
            var wanted = _end - _position;
            var available = Math.Min(data.Length, wanted);
            var give = result.IsCompleted ? available : Math.Min(available, wanted - 1);
            if (give > 0)
            {
                var n = (int)Math.Min(give, buffer.Length);
                data.Slice(0, n).CopyTo(buffer.Span);
                _position += n;
                _reader.AdvanceTo(data.GetPosition(n));
                _done = _position == _end;
                return n;
            }

            if (result.IsCompleted)
            {
                // Verified and stored, but fewer bytes than asked for: the narinfo's FileSize was checked, so this is a bug.
                _reader.AdvanceTo(data.End);
                throw new IOException($"the NAR download ended at byte {_position} of {_end}");
            }

            // Nothing to give yet, or only the final byte.
            _reader.AdvanceTo(data.Start, data.End);
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _reader.Complete();
        }

        base.Dispose(disposing);
    }
}
