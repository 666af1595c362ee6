namespace Flywheel.Cache.Benchmarks.Tests;

/// <summary>
/// Every synchronous benchmark allocates what bench/Flywheel.Cache.Benchmarks/allocation-budgets.json says (within
/// 10% or 256 B). Allocation is counted, not timed, so the check is exact on a busy machine. Over budget is a
/// regression on a hot path; well under means the budget should be lowered so the gain is kept.
/// </summary>
public sealed class AllocationBudgetTests
{
    private static readonly Dictionary<string, long> Budgets =
        AllocationBudgets.Load(RepoFiles.Path("bench", "Flywheel.Cache.Benchmarks", AllocationBudgets.FileName));

    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (var c in AllocationBudgets.Cases())
        {
            data.Add(c.Name);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Allocates_within_its_budget(string name)
    {
        var budgetCase = AllocationBudgets.Cases().Single(c => c.Name == name);
        var measured = AllocationBudgets.Measure(budgetCase);
        var verdict = AllocationBudgets.Compare(name, measured, Budgets.TryGetValue(name, out var budget) ? budget : null);
        Assert.True(verdict is null, verdict + " (dotnet run -c Release --project bench/Flywheel.Cache.Benchmarks -- budgets --write records new budgets)");
    }

    [Fact]
    public void Every_budget_belongs_to_a_benchmark()
    {
        var names = AllocationBudgets.Cases().Select(c => c.Name).ToHashSet();
        var orphans = Budgets.Keys.Where(k => !names.Contains(k)).ToList();
        Assert.True(orphans.Count == 0, "budgets without a benchmark: " + string.Join(", ", orphans));
    }

    [Fact]
    public void The_hot_path_primitives_allocate_nothing_but_their_result()
    {
        // Decoding into a caller's span allocates nothing at all.
        Assert.Equal(0, Budgets["NixBenchmarks.Base32Decode"]);
    }
}
