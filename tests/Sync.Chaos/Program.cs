using System.Globalization;
using Sync.Chaos;

// The reliability campaign. Modes:
//   (default)        crash-and-fault campaign: --kills N --seed S
//   --overload       a 10x burst over the campaign rate: peak RSS, time to catch up, nothing dropped
//   --fuzz N         N random and mutated inputs to every parser: crashes, hangs, rejections
// PostgreSQL and Redis come from --postgres/--redis or SYNC_TEST_POSTGRES/SYNC_TEST_REDIS; the
// restart faults from --postgres-restart/--redis-restart or SYNC_TEST_POSTGRES_RESTART/SYNC_TEST_REDIS_RESTART,
// the PostgreSQL crash fault from --postgres-crash or SYNC_TEST_POSTGRES_CRASH (scripts/chaos.sh sets it),
// the Redis rollback fault from --redis-snapshot/--redis-rollback or SYNC_TEST_REDIS_SNAPSHOT/SYNC_TEST_REDIS_ROLLBACK
// (the PostgreSQL rollback fault needs only the connection); the Redis Cluster materializer from --redis-cluster
// (host:port,…) and its primary-crash fault from --redis-cluster-crash (scripts/chaos.sh --cluster sets both).
var settings = new Dictionary<string, string>(StringComparer.Ordinal);
var flags = new HashSet<string>(StringComparer.Ordinal);
string[] valued = ["--kills", "--seed", "--postgres", "--redis", "--postgres-restart", "--redis-restart", "--postgres-crash", "--redis-snapshot", "--redis-rollback", "--rate", "--work", "--fuzz", "--burst-seconds", "--catch-up-timeout", "--redis-cluster", "--redis-cluster-crash"];
for (var i = 0; i < args.Length; i++)
{
    if (valued.Contains(args[i]) && i + 1 < args.Length)
    {
        settings[args[i]] = args[++i];
    }
    else if (args[i] is "--overload")
    {
        flags.Add(args[i]);
    }
    else
    {
        Console.Error.WriteLine($"chaos: unknown argument '{args[i]}'. Usage: Sync.Chaos [--kills N] [--seed S] [--rate R] [--overload [--burst-seconds S]] [--fuzz N] [--postgres CS] [--redis HOST:PORT] [--postgres-restart CMD] [--redis-restart CMD] [--postgres-crash CMD] [--redis-snapshot CMD --redis-rollback CMD] [--redis-cluster NODES [--redis-cluster-crash CMD]] [--work DIR] [--catch-up-timeout SECONDS]");
        return 2;
    }
}

int Number(string name, int fallback)
{
    if (!settings.TryGetValue(name, out var text))
    {
        return fallback;
    }

    if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value))
    {
        Console.Error.WriteLine($"chaos: {name} ({text}) must be a whole number");
        Environment.Exit(2);
    }

    return value;
}

string? Setting(string name, string variable) =>
    settings.GetValueOrDefault(name) ?? (Environment.GetEnvironmentVariable(variable) is { Length: > 0 } value ? value : null);

var seed = Number("--seed", 1);
if (settings.ContainsKey("--fuzz"))
{
    var fuzz = FuzzCampaign.Run(Number("--fuzz", 100_000), seed, Console.Out);
    Console.WriteLine(fuzz.FigureLine);
    return fuzz.Passed ? 0 : 1;
}

var postgres = Setting("--postgres", "SYNC_TEST_POSTGRES");
var redis = Setting("--redis", "SYNC_TEST_REDIS");
if (postgres is null || redis is null)
{
    Console.Error.WriteLine("chaos: PostgreSQL and Redis are needed: --postgres and --redis, or SYNC_TEST_POSTGRES and SYNC_TEST_REDIS (scripts/chaos.sh starts both)");
    return 2;
}

var options = new CampaignOptions
{
    Postgres = postgres,
    Redis = redis,
    CliAssembly = Path.Combine(AppContext.BaseDirectory, "sync.dll"),
    WorkDirectory = settings.GetValueOrDefault("--work") ?? Path.Combine(Path.GetTempPath(), $"sync-chaos-{Environment.ProcessId}"),
    Seed = seed,
    Kills = Number("--kills", 50),
    Rate = Number("--rate", 300),
    PostgresRestart = Setting("--postgres-restart", "SYNC_TEST_POSTGRES_RESTART"),
    RedisRestart = Setting("--redis-restart", "SYNC_TEST_REDIS_RESTART"),
    PostgresCrash = Setting("--postgres-crash", "SYNC_TEST_POSTGRES_CRASH"),
    RedisSnapshot = Setting("--redis-snapshot", "SYNC_TEST_REDIS_SNAPSHOT"),
    RedisRollback = Setting("--redis-rollback", "SYNC_TEST_REDIS_ROLLBACK"),
    RedisCluster = settings.GetValueOrDefault("--redis-cluster"),
    RedisClusterCrash = settings.GetValueOrDefault("--redis-cluster-crash"),
    CatchUpTimeout = TimeSpan.FromSeconds(Number("--catch-up-timeout", 180)),
    Log = Console.Out,
};
Console.WriteLine($"chaos: seed {seed}, work folder {options.WorkDirectory}");

if (flags.Contains("--overload"))
{
    var overload = await new Overload(options, TimeSpan.FromSeconds(Number("--burst-seconds", 20))).RunAsync();
    Console.WriteLine(overload.Describe());
    Console.WriteLine(overload.FigureLine);
    return overload.Passed ? 0 : 1;
}

if (options.PostgresRestart is null || options.RedisRestart is null)
{
    Console.WriteLine("chaos: no restart command for PostgreSQL and/or Redis: those faults are left out");
}

var result = await new Campaign(options).RunAsync();
Console.WriteLine($"published {result.Published} changes in {result.Elapsed:hh\\:mm\\:ss}; {result.Samples} sink samples; sync exited on its own {result.UnplannedExits} times; dead letters {result.DeadLetters}");
Console.WriteLine($"faults fired: {result.FaultBreakdown}");
Console.WriteLine($"sink rollbacks sync found: {(result.RollbacksFound is { Count: > 0 } found ? string.Join(", ", found.Select(f => $"{f.Key} {f.Value}")) : "none")}");
foreach (var (reason, count) in result.ExitReasons.OrderByDescending(r => r.Value))
{
    Console.WriteLine($"sync ended on its own {count} times with: {reason}");
}

foreach (var sink in result.Sinks)
{
    Console.WriteLine($"{sink.Sink}: {sink.Expected} rows expected, lost {sink.Lost}, duplicated {sink.Duplicated}{string.Concat(sink.Examples.Select(e => $"\n  {e}"))}");
}

foreach (var example in result.RegressedExamples)
{
    Console.WriteLine($"regressed: {example}");
}

Console.WriteLine(result.FigureLine);
return result.Passed ? 0 : 1;
