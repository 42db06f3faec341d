using Microsoft.Extensions.Logging.Abstractions;
using Sync.Engine.Formats;
using Sync.Sinks;
using Sync.Sources;

namespace Sync.Compliance.Tests.Steps;

/// <summary>The quick-start changelog materialized into SQLite, and erasure scopes over it for
/// the subject <c>customer</c>: each step runs on a real changelog file and a real sink, SQLite
/// unless <paramref name="sink"/> gives another (its YAML, as the value of the sink <c>local</c>).</summary>
public sealed class StepFixture(string? sink = null) : IAsyncLifetime
{
    private readonly List<ErasureScope> _scopes = [];
    private int _requests;

    public Workspace Workspace { get; } = new();

    public SyncComponents Components { get; } = new(SourceCatalog.All, SinkCatalog.All, MessageFormats.Names, MessageFormats.Create);

    public SyncConfig Config { get; private set; } = null!;

    public string Changelog => Path.Combine(Workspace.Examples, "data", "changelog.jsonl");

    public async Task InitializeAsync()
    {
        if (sink is not null)
        {
            var yaml = await File.ReadAllTextAsync(Workspace.Quickstart);
            var replaced = yaml.Replace("  local:\n    type: sqlite\n    path: quickstart.db\n", $"  local: {sink}\n", StringComparison.Ordinal);
            Assert.NotEqual(yaml, replaced);
            await File.WriteAllTextAsync(Workspace.Quickstart, replaced);
        }

        Config = ConfigLoader.Load(Workspace.Quickstart, Components.Types, _ => null);
        var outcomes = await new SyncRuntime(Config, Components, NullLoggerFactory.Instance).RunAsync([], RunMode.Resume, CancellationToken.None);
        Assert.All(outcomes, o => Assert.Null(o.Failure));
    }

    /// <summary>A scope for the keys with its sinks open; disposed with the fixture.</summary>
    public async Task<ErasureScope> ScopeAsync(string[] keys, bool dryRun = false, bool purgeBacklog = false)
    {
        var command = new ErasureCommand("customer", keys, "dpo@example.com", dryRun) { PurgeBacklog = purgeBacklog };
        var scope = new ErasureScope(Config, Components, command, Config.Subjects["customer"], new SubjectHasher(Config.Erasure.Secret!));
        _scopes.Add(scope);
        await scope.OpenSinksAsync(CancellationToken.None);
        return scope;
    }

    public string NewRequestId() => $"request-{++_requests}";

    /// <summary>The messages of the scope's compacted view that name a requested subject, over every topic of the subject's materializers.</summary>
    public static async Task<int> CompactedMatchesAsync(ErasureScope scope)
    {
        var count = 0;
        foreach (var bound in scope.Bindings)
        {
            var reader = scope.Reader(bound);
            await foreach (var message in scope.Logs.Get(scope.Config.Sources[bound.Options.Source]).ReadCompactedAsync(reader.Reads, CancellationToken.None))
            {
                count += reader.SubjectsIn(message, scope.KeySet).Count > 0 ? 1 : 0;
            }
        }

        return count;
    }

    /// <summary>No compaction ran (as when every compaction is skipped).</summary>
    public static Compactions NoCompactions => new(new Dictionary<TopicRef, TopicCompaction>(), DryRun: false);

    /// <summary>Plan, tombstones and compaction, as an erasure runs them.</summary>
    public static async Task<(ErasurePlan Plan, PublishedTombstones Tombstones, Compactions Compactions)> ThroughCompactionAsync(ErasureScope scope, bool compact = true)
    {
        var plan = await new PlanStep().RunAsync(new(scope), CancellationToken.None);
        var tombstones = await new TombstoneStep().RunAsync(new(scope, plan), CancellationToken.None);
        var compactions = compact ? await new CompactionStep().RunAsync(new(scope, plan), CancellationToken.None) : NoCompactions;
        return (plan, tombstones, compactions);
    }

    /// <summary>Every step up to the verification, as an erasure runs them; without <paramref name="compact"/>, no compaction runs.</summary>
    public async Task<StepsRun> ThroughVerifyAsync(ErasureScope scope, bool compact = true)
    {
        var requests = await new RecordRequestsStep().RunAsync(new(scope, new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero), NewRequestId), CancellationToken.None);
        var (plan, tombstones, compactions) = await ThroughCompactionAsync(scope, compact);
        var sinks = await new SinkEraseStep().RunAsync(new(scope, plan), CancellationToken.None);
        var letters = await new DeadLetterEraseStep().RunAsync(new(scope), CancellationToken.None);
        var verification = await new VerifyStep().RunAsync(new(scope, plan, tombstones, compactions, sinks, letters), CancellationToken.None);
        return new StepsRun(requests, plan, sinks, verification);
    }

    public async Task DisposeAsync()
    {
        foreach (var scope in _scopes)
        {
            await scope.DisposeAsync();
        }

        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Workspace.Dispose();
    }
}

/// <summary>What the steps up to the verification produced.</summary>
public sealed record StepsRun(RecordedRequests Requests, ErasurePlan Plan, SinkErasure Sinks, Verification Verification);
