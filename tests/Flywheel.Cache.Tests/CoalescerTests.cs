namespace Flywheel.Cache.Tests;

public sealed class CoalescerTests
{
    [Fact]
    public async Task Concurrent_calls_for_one_key_share_one_computation_and_the_key_is_forgotten_after()
    {
        var coalescer = new Coalescer<string, int>();
        var gate = new TaskCompletionSource();
        var computations = 0;

        var calls = Enumerable.Range(0, 50).Select(_ => coalescer.RunAsync("k", 0, async (_, _) =>
        {
            Interlocked.Increment(ref computations);
            await gate.Task;
            return 42;
        })).ToArray();
        var other = coalescer.RunAsync("other", 0, (_, _) => Task.FromResult(7));
        gate.SetResult();

        Assert.All(await Task.WhenAll(calls), r => Assert.Equal(42, r));
        Assert.Equal(7, await other);
        Assert.Equal(1, computations);
        Assert.Equal(0, coalescer.Running);
        Assert.Equal(43, await coalescer.RunAsync("k", 0, (_, _) => Task.FromResult(43)));
    }

    [Fact]
    public async Task A_caller_giving_up_does_not_cancel_the_computation_and_failures_reach_every_caller()
    {
        var coalescer = new Coalescer<string, int>();
        var gate = new TaskCompletionSource();
        using var impatient = new CancellationTokenSource();

        var first = coalescer.RunAsync("k", 0, async (_, _) =>
        {
            await gate.Task;
            throw new InvalidOperationException("upstream broke");
        });
        var waiting = first.WaitAsync(impatient.Token);
        var second = coalescer.RunAsync("k", 0, (_, _) => Task.FromResult(1));
        impatient.Cancel();
        gate.SetResult();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        Assert.Equal("upstream broke", (await Assert.ThrowsAsync<InvalidOperationException>(() => second)).Message);
        Assert.Same(first, second);
    }
}
