using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;

// Micro-benchmarks of the hot paths (decode, collapse, frame codec) with allocations per
// operation. Short runs by default (a shared 2-core machine); --long for BenchmarkDotNet's
// default job. Usage: dotnet run -c Release --project bench/Sync.Bench.Micro [-- --long] [--artifacts DIR] [--filter *Decode*]
var longRun = args.Contains("--long");
var artifactsAt = Array.IndexOf(args, "--artifacts");
var artifacts = artifactsAt >= 0 && artifactsAt + 1 < args.Length ? args[artifactsAt + 1] : null;
var rest = args.Where((a, i) => a != "--long" && (artifactsAt < 0 || (i != artifactsAt && i != artifactsAt + 1))).ToArray();
var job = longRun ? Job.Default : Job.ShortRun.WithWarmupCount(3).WithIterationCount(5);
var config = DefaultConfig.Instance
    .AddJob(job)
    .AddDiagnoser(MemoryDiagnoser.Default)
    .WithOptions(ConfigOptions.DisableOptimizationsValidator);
if (artifacts is not null)
{
    config = config.WithArtifactsPath(artifacts);
}

BenchmarkSwitcher.FromAssembly(typeof(Sync.Bench.Micro.DecodeBenchmarks).Assembly).Run(rest.Length == 0 ? ["--filter", "*"] : rest, config);
