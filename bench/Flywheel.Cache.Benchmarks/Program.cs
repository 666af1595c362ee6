using BenchmarkDotNet.Running;

// dotnet run -c Release --project bench/Flywheel.Cache.Benchmarks -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
