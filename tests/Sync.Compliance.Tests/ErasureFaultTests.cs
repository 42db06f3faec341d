using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Sync.Engine.Formats;
using Sync.Sources.File;
using Sync.Engine.Topics;
using Sync.Sinks;
using Xunit.Abstractions;

namespace Sync.Compliance.Tests;

/// <summary>Erasure across fan-in topics, under failing compaction, and at volume.</summary>
public sealed class ErasureFaultTests(ITestOutputHelper output) : IDisposable
{
    private readonly Workspace _workspace = new();

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        _workspace.Dispose();
    }

    [Fact]
    public async Task A_subject_is_erased_from_every_tenant_topic_of_a_fan_in()
    {
        var config = WriteFanIn(tenants: ["tenant_a", "tenant_b", "tenant_c"], customersPerTenant: 3);
        var components = Components(new FileSourceFactory());
        await RunAsync(config, components);

        var report = await new ErasureService(config, components).EraseAsync(new ErasureCommand("customer", ["2"], "dpo", DryRun: false), CancellationToken.None);

        Assert.Equal(ErasureVerdict.Complete, report.Verdict);
        Assert.Equal(3, report.Topics.Count);
        Assert.All(report.Topics, t => Assert.Single(t.TombstonePositions));
        Assert.Equal(3, report.Sinks.Single().Deleted);
        Assert.DoesNotContain(SqliteTables.Rows(_workspace.File("fanin.db"), "users"), r => r.Contains("|id=2|", StringComparison.Ordinal));
        Assert.Equal(6, SqliteTables.Count(_workspace.File("fanin.db"), "SELECT count(*) FROM users"));
    }

    [Fact]
    public async Task A_failing_compaction_makes_the_erasure_incomplete_and_the_report_says_so()
    {
        var config = WriteFanIn(tenants: ["tenant_a"], customersPerTenant: 2);
        await RunAsync(config, Components(new FileSourceFactory()));
        var failing = Components(new FaultySourceFactory(compaction: new CompactionOutcome("ERROR", null, "ledger 17 is fenced")));

        var report = await new ErasureService(config, failing).EraseAsync(new ErasureCommand("customer", ["1"], "dpo", DryRun: false), CancellationToken.None);

        Assert.Equal(ErasureVerdict.Incomplete, report.Verdict);
        var topic = Assert.Single(report.Topics);
        Assert.Equal("ERROR: ledger 17 is fenced", topic.Compaction);
        Assert.True(topic.RawResidue > 0);
        Assert.Equal(ErasureVerdict.Incomplete, Assert.Single(report.Keys).Verdict);
        // The sink side is still done: suppression and deletion do not wait for the broker.
        Assert.Equal(0, report.Sinks.Single().Remaining);

        var retried = await new ErasureService(config, Components(new FileSourceFactory())).EraseAsync(new ErasureCommand("customer", ["1"], "dpo", DryRun: false), CancellationToken.None);
        Assert.Equal(ErasureVerdict.Complete, retried.Verdict);
    }

    [Fact]
    public async Task In_a_batch_only_the_keys_a_check_still_finds_are_incomplete()
    {
        var config = WriteFanIn(tenants: ["tenant_a"], customersPerTenant: 2);
        await RunAsync(config, Components(new FileSourceFactory()));
        var failing = Components(new FaultySourceFactory(compaction: new CompactionOutcome("ERROR", null, "ledger 17 is fenced")));

        // Customer 1 is on the topic whose compaction fails; customer 9 is nowhere.
        var report = await new ErasureService(config, failing).EraseAsync(new ErasureCommand("customer", ["1", "9"], "dpo", DryRun: false), CancellationToken.None);

        Assert.Equal(ErasureVerdict.Incomplete, report.Verdict);
        Assert.Equal([ErasureVerdict.Incomplete, ErasureVerdict.NotFound], report.Keys.Select(k => k.Verdict));

        var retried = await new ErasureService(config, Components(new FileSourceFactory())).EraseAsync(new ErasureCommand("customer", ["1", "9"], "dpo", DryRun: false), CancellationToken.None);
        Assert.Equal(ErasureVerdict.Complete, retried.Verdict);
        Assert.Equal([ErasureVerdict.Complete, ErasureVerdict.NotFound], retried.Keys.Select(k => k.Verdict));
    }

    [Fact]
    public async Task A_compaction_that_does_not_finish_in_time_is_reported_as_a_timeout()
    {
        var config = WriteFanIn(tenants: ["tenant_a"], customersPerTenant: 2, compactionTimeout: "200ms");
        await RunAsync(config, Components(new FileSourceFactory()));
        var hanging = Components(new FaultySourceFactory(compaction: null));

        var report = await new ErasureService(config, hanging).EraseAsync(new ErasureCommand("customer", ["1"], "dpo", DryRun: false), CancellationToken.None);

        Assert.Equal(ErasureVerdict.Incomplete, report.Verdict);
        Assert.Equal("TIMEOUT: compaction did not finish within 200ms", Assert.Single(report.Topics).Compaction);
    }

    [Fact]
    public async Task A_thousand_keys_are_erased_in_one_pass()
    {
        var config = WriteFanIn(tenants: ["tenant_a"], customersPerTenant: 1500);
        var components = Components(new FileSourceFactory());
        await RunAsync(config, components);
        var keys = Enumerable.Range(1, 1000).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToList();

        var clock = Stopwatch.StartNew();
        var report = await new ErasureService(config, components).EraseAsync(new ErasureCommand("customer", keys, "dpo", DryRun: false), CancellationToken.None);
        clock.Stop();
        output.WriteLine($"1000 keys: {clock.ElapsedMilliseconds} ms in all; {report.Timings}");

        Assert.Equal(ErasureVerdict.Complete, report.Verdict);
        Assert.Equal(1000, report.Keys.Count);
        Assert.Equal(1000, Assert.Single(report.Topics).TombstonePositions.Count);
        Assert.Equal(500, SqliteTables.Count(_workspace.File("fanin.db"), "SELECT count(*) FROM users"));
    }

    private static SyncComponents Components(ISourceFactory files) =>
        new([files], SinkCatalog.All, MessageFormats.Names, MessageFormats.Create);

    private static async Task RunAsync(SyncConfig config, SyncComponents components)
    {
        var outcomes = await new SyncRuntime(config, components, NullLoggerFactory.Instance).RunAsync([], RunMode.Resume, CancellationToken.None);
        Assert.All(outcomes, o => Assert.Null(o.Failure));
    }

    private SyncConfig WriteFanIn(string[] tenants, int customersPerTenant, string compactionTimeout = "1m")
    {
        var lines = new StringBuilder();
        var lsn = 1;
        foreach (var tenant in tenants)
        {
            for (var id = 1; id <= customersPerTenant; id++)
            {
                var key = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{{\"id\":{id}}}"));
                lines.Append($$$$"""{"topic":"persistent://public/default/{{{{tenant}}}}.public.users","key":"{{{{key}}}}","keyBase64":true,"value":{"op":"c","after":{"id":{{{{id}}}},"email":"user{{{{id}}}}@{{{{tenant}}}}.example"},"source":{"db":"{{{{tenant}}}}","lsn":{{{{lsn++}}}}}}}""").Append('\n');
            }
        }

        _workspace.Write("data/fanin.jsonl", lines.ToString());
        var path = _workspace.WriteFileToSqliteConfig("data/fanin.jsonl", "fanin.db", name: "fanin.yaml", rest: $"""
            materializers:
              users:
                source: changelog
                topicPattern: 'persistent://public/default/tenant_[a-z]+\.public\.users'
                sink: local
                table: users
                batchSize: 5000
                tenant: {"{"} column: tenant, from: source.db {"}"}
            subjects:
              customer:
                users: {"{"} key: id {"}"}
            erasure:
              secret: 'fan-in-test-secret-0123456789'
              compactionTimeout: {compactionTimeout}
            """);
        var components = Components(new FileSourceFactory());
        return ConfigLoader.Load(path, components.Types, _ => null);
    }

    /// <summary>The file source, whose topic log fails or never finishes compaction.</summary>
    private sealed class FaultySourceFactory(CompactionOutcome? compaction) : ISourceFactory
    {
        private readonly FileSourceFactory _files = new();

        public string Type => "file";

        public Type OptionsType => _files.OptionsType;

        public ITopicNaming Naming => _files.Naming;

        public ISourceReader Open(ComponentConfig source, SourceReadRequest request) => _files.Open(source, request);

        public ITopicLog OpenLog(ComponentConfig source) => new FaultyLog(_files.OpenLog(source), compaction);
    }

    private sealed class FaultyLog(ITopicLog inner, CompactionOutcome? compaction) : ITopicLog
    {
        public ValueTask<string> RetentionNoteAsync(CancellationToken cancellationToken) => inner.RetentionNoteAsync(cancellationToken);

        public IAsyncEnumerable<SourceMessage> ReadCompactedAsync(Func<string, bool> topicFilter, CancellationToken cancellationToken) =>
            inner.ReadCompactedAsync(topicFilter, cancellationToken);

        public IAsyncEnumerable<SourceMessage> ScanRawAsync(Func<string, bool> topicFilter, CancellationToken cancellationToken) =>
            inner.ScanRawAsync(topicFilter, cancellationToken);

        public ValueTask<IReadOnlyList<TopicEnd>> EndsAsync(Func<string, bool> topicFilter, IReadOnlyDictionary<string, StreamPosition> after, CancellationToken cancellationToken) =>
            inner.EndsAsync(topicFilter, after, cancellationToken);

        public ValueTask<StreamPosition> PublishTombstoneAsync(string topic, MessageKey key, CancellationToken cancellationToken) =>
            inner.PublishTombstoneAsync(topic, key, cancellationToken);

        public ValueTask<StreamPosition> PublishAsync(string topic, MessageKey key, ReadOnlyMemory<byte>? value, IReadOnlyDictionary<string, string> properties, DateTimeOffset? eventTime, CancellationToken cancellationToken) =>
            inner.PublishAsync(topic, key, value, properties, eventTime, cancellationToken);

        public async ValueTask<CompactionOutcome> CompactAsync(string topic, IReadOnlyCollection<MessageKey> keys, CancellationToken cancellationToken)
        {
            if (compaction is null)
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }

            return compaction!;
        }

        public ValueTask<TruncationOutcome> TruncateAsync(string topic, CancellationToken cancellationToken) =>
            inner.TruncateAsync(topic, cancellationToken);

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
