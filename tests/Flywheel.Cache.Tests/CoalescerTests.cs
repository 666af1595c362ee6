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
    public async Task A_caller_that_saw_a_result_and_asks_again_starts_a_new_computation()
    {
        // Four keys at once on the thread pool, so a caller's continuation often runs before the computing task
        // would have got to forget its key (the race this guards against showed up under CI load).
        var coalescer = new Coalescer<int, int>();
        var computations = 0;
        await Task.WhenAll(Enumerable.Range(0, 4).Select(key => Task.Run(async () =>
        {
            for (var i = 0; i < 500; i++)
            {
                await Assert.ThrowsAsync<InvalidOperationException>(() => coalescer.RunAsync(key, 0, (_, _) =>
                {
                    Interlocked.Increment(ref computations);
                    return Task.FromException<int>(new InvalidOperationException("down"));
                }));

                // Right away, on the continuation of the failure: never the failed computation again.
                Assert.Equal(i, await coalescer.RunAsync(key, i, (_, n) =>
                {
                    Interlocked.Increment(ref computations);
                    return Task.FromResult(n);
                }));
            }
        })));

        Assert.Equal(4 * 1000, computations);
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
