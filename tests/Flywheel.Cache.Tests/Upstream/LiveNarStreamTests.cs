using System.IO.Pipelines;
using Flywheel.Cache.Upstream;

namespace Flywheel.Cache.Tests.Upstream;

/// <summary>The client's side of a NAR being fetched: bytes as they come, the last one only once the download is verified.</summary>
public sealed class LiveNarStreamTests
{
    [Fact]
    public async Task Bytes_flow_as_they_arrive_but_the_last_waits_for_the_verdict()
    {
        var pipe = new Pipe();
        using var stream = new LiveNarStream(pipe.Reader, 0, 10);
        var buffer = new byte[64];

        await pipe.Writer.WriteAsync(new byte[] { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 });
        Assert.Equal(9, await stream.ReadAsync(buffer));
        var last = stream.ReadAsync(buffer).AsTask();
        await Task.Delay(50);
        Assert.False(last.IsCompleted);

        await pipe.Writer.CompleteAsync();
        Assert.Equal(1, await last);
        Assert.Equal(9, buffer[0]);
        Assert.Equal(0, await stream.ReadAsync(buffer));
    }

    [Fact]
    public async Task A_failed_download_reaches_the_client_instead_of_the_last_byte()
    {
        var pipe = new Pipe();
        using var stream = new LiveNarStream(pipe.Reader, 0, 4);
        var buffer = new byte[64];
        await pipe.Writer.WriteAsync(new byte[] { 1, 2, 3, 4 });
        Assert.Equal(3, await stream.ReadAsync(buffer));

        await pipe.Writer.CompleteAsync(new CacheException(CacheError.Unavailable, "NarHash mismatch"));

        Assert.Equal("NarHash mismatch", (await Assert.ThrowsAsync<CacheException>(() => stream.ReadAsync(buffer).AsTask())).Message);
    }

    [Fact]
    public async Task A_range_skips_to_its_offset_and_ends_at_its_count()
    {
        var pipe = new Pipe();
        using var stream = new LiveNarStream(pipe.Reader, 3, 4);
        await pipe.Writer.WriteAsync(Enumerable.Range(0, 10).Select(i => (byte)i).ToArray());
        await pipe.Writer.CompleteAsync();

        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy);

        Assert.Equal(new byte[] { 3, 4, 5, 6 }, copy.ToArray());
    }

    [Fact]
    public async Task Disposing_the_client_side_lets_the_writer_carry_on()
    {
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 16, resumeWriterThreshold: 8));
        var stream = new LiveNarStream(pipe.Reader, 0, 1000);
        await pipe.Writer.WriteAsync(new byte[8]);

        await stream.DisposeAsync();

        var result = await pipe.Writer.WriteAsync(new byte[100]).AsTask().WaitAsync(TimeSpan.FromSeconds(5));
        Assert.True(result.IsCompleted); // the reader is gone: the tee stops copying, the download goes on
    }
}
