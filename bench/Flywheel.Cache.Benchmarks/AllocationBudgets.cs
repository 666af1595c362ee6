using System.Diagnostics;
using System.Linq.Expressions;
using System.Reflection;
using System.Text.Json;
using BenchmarkDotNet.Attributes;

namespace Flywheel.Cache.Benchmarks;

/// <summary>
/// Allocation budgets, checked in as <c>allocation-budgets.json</c>: the managed bytes each synchronous benchmark
/// allocates per call (what BenchmarkDotNet's memory diagnoser reports as Allocated). Synchronous benchmarks run on
/// one thread without I/O, so <see cref="GC.GetAllocatedBytesForCurrentThread"/> counts them exactly; no timing is
/// involved. A test compares every case with its budget, so a regression (or an improvement not yet recorded) is
/// visible; <c>dotnet run -c Release --project bench/Flywheel.Cache.Benchmarks -- budgets --write</c> records them.
/// </summary>
public static class AllocationBudgets
{
    public const string FileName = "allocation-budgets.json";

    /// <summary>Below this many bytes of difference a case matches its budget (tiered JIT may stack-allocate a little more or less).</summary>
    public const long SlackBytes = 256;

    private static readonly JsonSerializerOptions JsonOptions = new() { ReadCommentHandling = JsonCommentHandling.Skip, WriteIndented = true };

    public static string DefaultPath => Path.Combine(AppContext.BaseDirectory, FileName);

    /// <summary>Every synchronous [Benchmark] method of this assembly, once per value of its class's [Params] property.</summary>
    public static IReadOnlyList<BudgetCase> Cases()
    {
        var cases = new List<BudgetCase>();
        foreach (var type in typeof(AllocationBudgets).Assembly.GetTypes().Where(t => t.IsClass && !t.IsAbstract).OrderBy(t => t.Name, StringComparer.Ordinal))
        {
            var methods = type.GetMethods()
                .Where(m => m.GetCustomAttribute<BenchmarkAttribute>() is not null && !IsAsync(m.ReturnType))
                .ToList();
            if (methods.Count == 0)
            {
                continue;
            }

            var parameters = type.GetProperties().Where(p => p.GetCustomAttribute<ParamsAttribute>() is not null).ToList();
            if (parameters.Count > 1)
            {
                throw new NotSupportedException($"{type.Name}: allocation budgets support one [Params] property per class");
            }

            var values = parameters.Count == 0 ? [null] : parameters[0].GetCustomAttribute<ParamsAttribute>()!.Values;
            foreach (var method in methods)
            {
                foreach (var value in values)
                {
                    var name = value is null ? $"{type.Name}.{method.Name}" : $"{type.Name}.{method.Name}({parameters[0].Name}={value})";
                    cases.Add(new BudgetCase(name, type, method, parameters.Count == 0 ? null : parameters[0], value));
                }
            }
        }

        return cases;
    }

    public static Dictionary<string, long> Load(string path) =>
        JsonSerializer.Deserialize<Dictionary<string, long>>(File.ReadAllText(path), JsonOptions)
        ?? throw new InvalidOperationException($"{path} is empty");

    public static void Save(string path, IReadOnlyDictionary<string, long> budgets)
    {
        using var stream = File.Create(path);
        using var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        writer.WriteCommentValue(" Managed bytes allocated per call by each synchronous benchmark; see AllocationBudgets.cs. ");
        writer.WriteStartObject();
        foreach (var (name, bytes) in budgets.OrderBy(b => b.Key, StringComparer.Ordinal))
        {
            writer.WriteNumber(name, bytes);
        }

        writer.WriteEndObject();
        writer.Flush();
        stream.Write("\n"u8);
    }

    /// <summary>Managed bytes one call of the case allocates on this thread, after warm-up.</summary>
    public static long Measure(BudgetCase budgetCase)
    {
        var instance = Activator.CreateInstance(budgetCase.Type)!;
        budgetCase.Parameter?.SetValue(instance, budgetCase.Value);
        foreach (var setup in budgetCase.Type.GetMethods().Where(m => m.GetCustomAttribute<GlobalSetupAttribute>() is not null))
        {
            setup.Invoke(instance, null);
        }

        // A compiled call that discards the result: no reflection and no boxing inside the measured loop.
        var call = Expression.Lambda<Action>(Expression.Call(Expression.Constant(instance), budgetCase.Method)).Compile();
        var timer = Stopwatch.StartNew();
        call();
        // about 20 ms of calls, at least 4 and at most 1000
        var calls = (int)Math.Clamp(20_000 / Math.Max(timer.Elapsed.TotalMicroseconds, 1), 4, 1000);
        for (var i = 0; i < calls; i++)
        {
            call();
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < calls; i++)
        {
            call();
        }

        var perCall = (GC.GetAllocatedBytesForCurrentThread() - before) / calls;
        foreach (var cleanup in budgetCase.Type.GetMethods().Where(m => m.GetCustomAttribute<GlobalCleanupAttribute>() is not null))
        {
            cleanup.Invoke(instance, null);
        }

        return perCall;
    }

    /// <summary>The verdict for one case: null when it is within <see cref="SlackBytes"/> or 10% of its budget.</summary>
    public static string? Compare(string name, long measured, long? budget)
    {
        if (budget is not { } b)
        {
            return $"{name}: allocates {measured} B per call and has no budget; record one (budgets --write)";
        }

        var slack = Math.Max(SlackBytes, b / 10);
        if (measured > b + slack)
        {
            return $"{name}: allocates {measured} B per call, over its budget of {b} B";
        }

        return measured < b - slack
            ? $"{name}: allocates {measured} B per call, well under its budget of {b} B; lower the budget (budgets --write)"
            : null;
    }

    /// <summary><c>budgets [--write]</c>: measures every case, prints it next to its budget, and records them when asked.</summary>
    public static int Run(string[] args)
    {
        var write = args.Contains("--write");
        var path = args.SkipWhile(a => a != "--file").Skip(1).FirstOrDefault()
            ?? Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../", FileName));
        var budgets = File.Exists(path) ? Load(path) : [];
        var measured = new Dictionary<string, long>();
        var failures = 0;
        foreach (var c in Cases())
        {
            var bytes = Measure(c);
            measured[c.Name] = bytes;
            var verdict = Compare(c.Name, bytes, budgets.TryGetValue(c.Name, out var b) ? b : null);
            failures += verdict is null ? 0 : 1;
            Console.WriteLine($"{c.Name,-60} {bytes,12} B  budget {(budgets.TryGetValue(c.Name, out var bb) ? bb.ToString() : "-"),12}  {verdict ?? "ok"}");
        }

        if (write)
        {
            Save(path, measured);
            Console.WriteLine($"recorded in {path}");
            return 0;
        }

        return failures == 0 ? 0 : 1;
    }

    private static bool IsAsync(Type type) =>
        type == typeof(Task) || type == typeof(ValueTask)
        || (type.IsGenericType && (type.GetGenericTypeDefinition() == typeof(Task<>) || type.GetGenericTypeDefinition() == typeof(ValueTask<>)));
}

/// <summary>One budgeted call: a benchmark method, with the value of its class's [Params] property when it has one.</summary>
public sealed record BudgetCase(string Name, Type Type, MethodInfo Method, PropertyInfo? Parameter, object? Value);
