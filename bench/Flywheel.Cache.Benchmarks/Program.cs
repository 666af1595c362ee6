using BenchmarkDotNet.Running;
using Flywheel.Cache.Benchmarks;
using Flywheel.Cache.Benchmarks.Load;

// dotnet run -c Release --project bench/Flywheel.Cache.Benchmarks -- --filter '*' [--job short]
//   budgets [--write]     allocation budgets (allocation-budgets.json): check, or record
//   load <scenario> ...   the gRPC and upload load driver of bench/load/run.sh
//   backend               PostgreSQL + s3rver on loopback for bench/load/run.sh --backend production
return args.FirstOrDefault() switch
{
    "budgets" => AllocationBudgets.Run(args[1..]),
    "load" => await LoadCommand.RunAsync(args[1..]),
    "backend" => await BackendCommand.RunAsync(),
    _ => Run(args),
};

static int Run(string[] args)
{
    BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    return 0;
}
