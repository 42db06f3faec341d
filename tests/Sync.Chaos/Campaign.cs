using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Sync.Testing.Elasticsearch;
using Sync.Testing.Pulsar;

namespace Sync.Chaos;

/// <summary>Settings of a crash-and-fault campaign.</summary>
public sealed record CampaignOptions
{
    public required string Postgres { get; init; }

    /// <summary>host:port of Redis.</summary>
    public required string Redis { get; init; }

    /// <summary>The built CLI (sync.dll).</summary>
    public required string CliAssembly { get; init; }

    /// <summary>Folder for the config, the logs and the dead-letter files.</summary>
    public required string WorkDirectory { get; init; }

    public int Seed { get; init; } = 1;

    public int Kills { get; init; } = 50;

    /// <summary>Shell command that restarts PostgreSQL; null leaves that fault out.</summary>
    public string? PostgresRestart { get; init; }

    /// <summary>Shell command that crashes PostgreSQL and starts it again (an immediate shutdown:
    /// recovery from the WAL on start); null leaves that fault out. Only meaningful on a server
    /// with durable commits (fsync and synchronous_commit on).</summary>
    public string? PostgresCrash { get; init; }

    /// <summary>Shell command that restarts Redis; null leaves that fault out.</summary>
    public string? RedisRestart { get; init; }

    /// <summary>Shell command that writes a Redis snapshot and copies it aside, and one that restarts
    /// Redis from that copy (the <c>redis-rollback</c> fault); null leaves that fault out.</summary>
    public string? RedisSnapshot { get; init; }

    public string? RedisRollback { get; init; }

    /// <summary>The nodes of a Redis Cluster (<c>host:port,…</c>): a fourth materializer, <c>to_redis_cluster</c>,
    /// writes the same rows there (with an index set by note); null leaves it out.</summary>
    public string? RedisCluster { get; init; }

    /// <summary>Shell command that kills a primary of <see cref="RedisCluster"/> with SIGKILL and brings the
    /// node back as a replica once its replica took over (the <c>redis-cluster-crash</c> fault); null leaves it out.</summary>
    public string? RedisClusterCrash { get; init; }

    /// <summary>Changes published per second while the campaign runs. Default 300.</summary>
    public int Rate { get; init; } = 300;

    /// <summary>Ids per tenant (each id in two regions). Default 200.</summary>
    public int IdsPerTenant { get; init; } = 200;

    /// <summary>How long sync runs between two kills: uniform between these. Default 0.5 s to 4 s.</summary>
    public TimeSpan MinUpTime { get; init; } = TimeSpan.FromSeconds(0.5);

    public TimeSpan MaxUpTime { get; init; } = TimeSpan.FromSeconds(4);

    /// <summary>Chance that a fault is injected between two kills. Default 0.7.</summary>
    public double FaultChance { get; init; } = 0.7;

    /// <summary>Faults to inject in this order, one between each two kills, instead of random
    /// ones; faults whose restart command is missing are left out. Default null (random).</summary>
    public IReadOnlyList<string>? FaultPlan { get; init; }

    /// <summary>Overload only: how long the steady stream runs before the burst. Default 10 s.</summary>
    public TimeSpan SteadyTime { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Longest wait, after the last kill, for every sink to match the model. Default 3 min.</summary>
    public TimeSpan CatchUpTimeout { get; init; } = TimeSpan.FromMinutes(3);

    /// <summary>Progress lines. Default none.</summary>
    public TextWriter Log { get; init; } = TextWriter.Null;
}

/// <summary>What a campaign found.</summary>
public sealed record CampaignResult(
    int Kills,
    int Faults,
    int Lost,
    int Regressed,
    int Duplicated,
    long Published,
    int UnplannedExits,
    IReadOnlyDictionary<string, int> ExitReasons,
    int DeadLetters,
    int Samples,
    string FaultBreakdown,
    IReadOnlyDictionary<string, int> FiredByFault,
    IReadOnlyList<SinkComparison> Sinks,
    IReadOnlyList<string> RegressedExamples,
    TimeSpan Elapsed,
    IReadOnlyDictionary<string, int>? RollbacksFound = null,
    int StaleIndexMembers = 0)
{
    public bool Passed => Lost == 0 && Regressed == 0 && Duplicated == 0 && StaleIndexMembers == 0;

    public string FigureLine => $"kills: {Kills}, faults: {Faults}, lost: {Lost}, regressed: {Regressed}, duplicated: {Duplicated}"
        + (StaleIndexMembers > 0 ? $", index members wrong: {StaleIndexMembers}" : string.Empty);
}

/// <summary>
/// The crash-and-fault campaign: a generated changelog is published to the fake broker while the
/// real <c>sync run</c> materializes it into PostgreSQL, Redis and the Elasticsearch fake; the
/// process is killed with SIGKILL at random moments and restarted, faults are injected in
/// between, every sink is sampled before each kill (the history for the never-regress check), and
/// at the end every sink is compared with the model.
/// </summary>
public sealed class Campaign(CampaignOptions options)
{
    private readonly TextWriter _log = options.Log;

    public async Task<CampaignResult> RunAsync(CancellationToken cancellationToken = default)
    {
        var clock = Stopwatch.StartNew();
        var random = new Random(options.Seed);
        await using var environment = await CampaignEnvironment.StartAsync(options);
        var history = new VersionHistory();
        var rollbacks = new SinkRollbacks(options.RedisSnapshot, options.RedisRollback, new PostgresRollback(options.Postgres, environment.PostgresSchemas), environment.Readers, history);
        var injector = new FaultInjector(environment.Broker, environment.Elasticsearch, environment.Subscriptions, options.PostgresRestart, options.RedisRestart, options.PostgresCrash, _log, rollbacks, options.RedisClusterCrash);
        using var stopPublishing = new CancellationTokenSource();
        var publishing = environment.Publisher.PublishAtRateAsync(options.Rate, stopPublishing.Token);
        var fault = Task.CompletedTask;
        var kills = 0;
        var plan = options.FaultPlan?.Where(injector.Names.Contains).ToList();
        try
        {
            environment.StartSync();
            for (var i = 0; i < options.Kills && !cancellationToken.IsCancellationRequested; i++)
            {
                var upTime = options.MinUpTime + ((options.MaxUpTime - options.MinUpTime) * random.NextDouble());
                if (plan is not null)
                {
                    if (i < plan.Count)
                    {
                        await fault;
                        fault = injector.InjectAsync(plan[i]);
                    }
                }
                else if (fault.IsCompleted && random.NextDouble() < options.FaultChance)
                {
                    await fault;
                    // With a cluster, every other fault kills one of its primaries: among fifteen others it would be rare.
                    fault = injector.InjectAsync(options.RedisClusterCrash is not null && random.NextDouble() < 0.5
                        ? "redis-cluster-crash"
                        : injector.Names[random.Next(injector.Names.Count)]);
                }

                await environment.KeepRunningAsync(upTime, cancellationToken);
                await SampleAsync(environment, history);
                await environment.KillAndRestartAsync();
                kills++;
                if (kills % 10 == 0)
                {
                    _log.WriteLine($"{kills} kills, {environment.Model}, {injector.Fired} faults fired, {clock.Elapsed:mm\\:ss}");
                }
            }
        }
        finally
        {
            await stopPublishing.CancelAsync();
            await publishing;
            await fault;
        }

        _log.WriteLine($"publishing stopped after {environment.Model}; waiting for the sinks to catch up");
        var comparisons = await environment.CatchUpAsync(options.CatchUpTimeout, cancellationToken);
        await SampleAsync(environment, history);
        var wrongMembers = environment.Readers.OfType<RedisClusterReader>().FirstOrDefault() is { } cluster
            ? await environment.IndexConvergedAsync(cluster, options.CatchUpTimeout, cancellationToken)
            : 0;
        return new CampaignResult(
            kills,
            injector.Fired,
            comparisons.Sum(c => c.Lost),
            history.Regressed,
            comparisons.Sum(c => c.Duplicated),
            environment.Model.Published,
            environment.UnplannedExits,
            environment.ExitReasons,
            environment.DeadLetters(),
            history.Samples,
            injector.Breakdown,
            injector.FiredByFault,
            comparisons,
            [.. history.Examples],
            clock.Elapsed,
            environment.RollbacksFound(),
            wrongMembers);
    }

    private static async Task SampleAsync(CampaignEnvironment environment, VersionHistory history)
    {
        foreach (var reader in environment.Readers)
        {
            if (await reader.ReadAsync() is { } rows)
            {
                history.Observe(reader.Name, rows);
            }
        }
    }

    /// <summary>The fakes, the publisher, the config and the running <c>sync run</c> of one campaign.</summary>
    internal sealed class CampaignEnvironment : IAsyncDisposable
    {
        private readonly CampaignOptions _options;
        private readonly string _config;
        private readonly string _syncLog;
        private SyncRun? _sync;

        private CampaignEnvironment(CampaignOptions options, FakePulsarBroker broker, FakeElasticsearch elasticsearch, Publisher publisher, ReferenceModel model, string run, IReadOnlyList<TenantTopic> tenants)
        {
            _options = options;
            Broker = broker;
            Elasticsearch = elasticsearch;
            Publisher = publisher;
            Model = model;
            Directory.CreateDirectory(options.WorkDirectory);
            _config = Path.Combine(options.WorkDirectory, $"chaos-{run}.yaml");
            _syncLog = Path.Combine(options.WorkDirectory, $"chaos-{run}.sync.log");
            var schema = $"chaos_{run}";
            var redisPrefix = $"chaos{run}";
            var index = $"chaos-{run}-items";
            Subscriptions = [.. tenants.SelectMany(t => Materializers.Where(m => m != ClusterMaterializer || options.RedisCluster is not null).Select(m => (t.Topic, $"sync-{m}")))];
            PostgresSchemas = [schema, $"{schema}_state"];
            Readers = [
                new PostgresReader(options.Postgres, schema), new RedisReader(options.Redis, $"{redisPrefix}:items:*"), new ElasticsearchReader(elasticsearch, index),
                .. options.RedisCluster is { } nodes ? [new RedisClusterReader(nodes, $"{redisPrefix}c:items:", $"{redisPrefix}c:by_note:")] : Array.Empty<ISinkReader>(),
            ];
            File.WriteAllText(_config, Config(options, broker, elasticsearch, tenants, run, schema, redisPrefix, index));
        }

        public static readonly string[] Materializers = ["to_postgres", "to_redis", "to_elasticsearch", ClusterMaterializer];

        private const string ClusterMaterializer = "to_redis_cluster";

        public FakePulsarBroker Broker { get; }

        public FakeElasticsearch Elasticsearch { get; }

        public Publisher Publisher { get; }

        public ReferenceModel Model { get; }

        public IReadOnlyList<(string Topic, string Subscription)> Subscriptions { get; }

        public IReadOnlyList<ISinkReader> Readers { get; }

        /// <summary>The PostgreSQL target schema and its state schema (the config's schema and stateSchema).</summary>
        public string[] PostgresSchemas { get; }

        /// <summary>Times <c>sync run</c> ended on its own (e.g. a sink unavailable past its retry
        /// budget) and was started again, as a supervisor would.</summary>
        public int UnplannedExits { get; private set; }

        public SyncRun Sync => _sync ?? throw new InvalidOperationException("sync run was not started");

        public static async Task<CampaignEnvironment> StartAsync(CampaignOptions options)
        {
            // Unique per run, never from the seed: two runs with one seed must not share tables and keys.
            var run = string.Create(CultureInfo.InvariantCulture, $"{options.Seed}_{Guid.NewGuid():N}")[..16];
            var broker = FakePulsarBroker.Start();
            var elasticsearch = FakeElasticsearch.Start();
            var tenants = ChangelogGenerator.DefaultTenants(run);
            var generator = new ChangelogGenerator(options.Seed, tenants, options.IdsPerTenant);
            var model = new ReferenceModel();
            var publisher = await Publisher.CreateAsync(broker.ServiceUrl, generator, model);
            await publisher.PublishAsync(generator.Snapshot(), CancellationToken.None);
            return new CampaignEnvironment(options, broker, elasticsearch, publisher, model, run, tenants);
        }

        /// <summary>The error lines sync printed before it ended on its own, with names, ports and
        /// positions replaced by placeholders so that alike reasons count together.</summary>
        public IReadOnlyDictionary<string, int> ExitReasons => _exitReasons;

        private readonly Dictionary<string, int> _exitReasons = new(StringComparer.Ordinal);
        private long _logLength;

        public void StartSync()
        {
            _logLength = File.Exists(_syncLog) ? new FileInfo(_syncLog).Length : 0;
            _sync = SyncRun.Start(_options.CliAssembly, _config, _syncLog);
        }

        private void NoteExitReason()
        {
            using var log = new FileStream(_syncLog, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            log.Seek(_logLength, SeekOrigin.Begin);
            using var reader = new StreamReader(log);
            var reasons = reader.ReadToEnd().Split('\n')
                .Where(l => l.StartsWith("error:", StringComparison.Ordinal))
                .Select(l => Regex.Replace(Regex.Replace(l, "to_(postgres|redis|elasticsearch)", "M"), "[0-9]+", "N"))
                .Distinct()
                .DefaultIfEmpty("(no error line)");
            foreach (var reason in reasons)
            {
                _exitReasons[reason] = _exitReasons.GetValueOrDefault(reason) + 1;
            }
        }

        /// <summary>Lets sync run for <paramref name="time"/>, starting it again whenever it ends on its own.</summary>
        public async Task KeepRunningAsync(TimeSpan time, CancellationToken cancellationToken)
        {
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < time && !cancellationToken.IsCancellationRequested)
            {
                if (Sync.HasExited)
                {
                    UnplannedExits++;
                    NoteExitReason();
                    _options.Log.WriteLine($"sync run exited on its own with {Sync.ExitCode}; starting it again (log: {_syncLog})");
                    Sync.Dispose();
                    StartSync();
                }

                await Task.Delay(50, CancellationToken.None);
            }
        }

        public async Task KillAndRestartAsync()
        {
            await Sync.KillAsync();
            Sync.Dispose();
            StartSync();
        }

        /// <summary>Compares every sink with the model until all match or the timeout passes.</summary>
        public async Task<IReadOnlyList<SinkComparison>> CatchUpAsync(TimeSpan timeout, CancellationToken cancellationToken)
        {
            var expected = Model.Rows();
            var clock = Stopwatch.StartNew();
            while (true)
            {
                var comparisons = new List<SinkComparison>();
                foreach (var reader in Readers)
                {
                    comparisons.Add(SinkComparison.Compare(reader.Name, expected, await reader.ReadAsync() ?? new Dictionary<RowKey, long>()));
                }

                if (comparisons.All(c => c.Matches) || clock.Elapsed > timeout || cancellationToken.IsCancellationRequested)
                {
                    return comparisons;
                }

                await KeepRunningAsync(TimeSpan.FromSeconds(1), cancellationToken);
            }
        }

        /// <summary>Waits until the cluster's index sets list exactly the live rows of each region (they are
        /// updated after the rows: docs/configuration.md, "Redis Cluster"), or the timeout passes; returns
        /// the members still wrong (a member without its row, a row missing from its set).</summary>
        public async Task<int> IndexConvergedAsync(RedisClusterReader reader, TimeSpan timeout, CancellationToken cancellationToken)
        {
            var clock = Stopwatch.StartNew();
            while (true)
            {
                var wrong = await reader.WrongIndexMembersAsync();
                if (wrong == 0 || clock.Elapsed > timeout || cancellationToken.IsCancellationRequested)
                {
                    return wrong ?? -1;
                }

                await KeepRunningAsync(TimeSpan.FromSeconds(1), cancellationToken);
            }
        }

        /// <summary>sync's warnings that a sink went back in time, by materializer (the sink-rollback
        /// faults must be found by sync itself, not only by the final comparison).</summary>
        public IReadOnlyDictionary<string, int> RollbacksFound()
        {
            using var log = new FileStream(_syncLog, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var reader = new StreamReader(log);
            return reader.ReadToEnd().Split('\n')
                .Where(l => l.Contains("went back in time (", StringComparison.Ordinal))
                .Select(l => Materializers.FirstOrDefault(m => l.Contains(m + ":", StringComparison.Ordinal)) ?? "?")
                .GroupBy(m => m, StringComparer.Ordinal)
                .ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        }

        /// <summary>Lines in the materializers' dead-letter files: changes sync refused.</summary>
        public int DeadLetters() => Directory.EnumerateFiles(_options.WorkDirectory, "*.deadletter.jsonl")
            .Where(f => Materializers.Any(m => Path.GetFileName(f).StartsWith(m, StringComparison.Ordinal)))
            .Sum(f => File.ReadLines(f).Count());

        private static string Config(CampaignOptions options, FakePulsarBroker broker, FakeElasticsearch elasticsearch, IReadOnlyList<TenantTopic> tenants, string run, string schema, string redisPrefix, string index)
        {
            var topics = string.Join(", ", tenants.Select(t => $"'{t.Topic}'"));
            var tenant = $"tenant: {{ column: tenant, from: topic, pattern: 'persistent://public/default/chaos{run}_(?<tenant>tenant_[a-z]+)\\.public\\.items' }}";
            // The cluster's rows spread over every primary (no hash tag: each whole key is hashed), and an
            // index set per note, which every update sets anew: the sets converge after the rows.
            var clusterSink = options.RedisCluster is { } nodes
                ? $"clustercache: {{ type: redis, cluster: true, endpoints: [{string.Join(", ", nodes.Split(',').Select(n => $"'{n}'"))}], keyPrefix: '{redisPrefix}c:sync:' }}"
                : string.Empty;
            var clusterMaterializer = options.RedisCluster is null
                ? string.Empty
                : $"{ClusterMaterializer}: {{ source: broker, topics: [{topics}], sink: clustercache, table: items, batchSize: 200, {tenant}, target: {{ keyTemplate: '{redisPrefix}c:items:{{tenant}}:{{id}}:{{region}}', indexes: ['{redisPrefix}c:by_note:{{note}}'] }} }}";
            return $"""
                sources:
                  broker: {"{"} type: pulsar, serviceUrl: '{broker.ServiceUrl.ToString().TrimEnd('/')}', adminUrl: '{broker.AdminUrl.ToString().TrimEnd('/')}', initialPosition: earliest {"}"}
                sinks:
                  pg: {"{"} type: postgres, connectionString: '{options.Postgres}', tls: disable, schema: {schema}, stateSchema: {schema}_state {"}"}
                  cache: {"{"} type: redis, endpoints: ['{options.Redis}'], keyPrefix: '{redisPrefix}:sync:' {"}"}
                  {clusterSink}
                  search: {"{"} type: elasticsearch, urls: ['{elasticsearch.Url.ToString().TrimEnd('/')}'], checkpointIndex: 'chaos-{run}-checkpoints' {"}"}
                materializers:
                  to_postgres:
                    {"{"} source: broker, topics: [{topics}], sink: pg, table: items, batchSize: 200, {tenant} {"}"}
                  to_redis:
                    {"{"} source: broker, topics: [{topics}], sink: cache, table: items, batchSize: 200, {tenant}, target: {"{"} keyTemplate: '{redisPrefix}:items:{"{"}tenant{"}"}:{"{"}id{"}"}:{"{"}region{"}"}' {"}"} {"}"}
                  to_elasticsearch:
                    {"{"} source: broker, topics: [{topics}], sink: search, table: items, batchSize: 200, {tenant}, target: {"{"} index: '{index}' {"}"} {"}"}
                  {clusterMaterializer}
                """;
        }

        public async ValueTask DisposeAsync()
        {
            if (_sync is not null)
            {
                await _sync.KillAsync();
                _sync.Dispose();
            }

            await Publisher.DisposeAsync();
            foreach (var reader in Readers.OfType<IAsyncDisposable>())
            {
                await reader.DisposeAsync();
            }

            await Broker.DisposeAsync();
            await Elasticsearch.DisposeAsync();
        }
    }
}
