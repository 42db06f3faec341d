using System.Threading.Channels;
using Sync.Engine.Sinks;
using Sync.Testing.Sinks;

namespace Sync.Engine.Tests.Runtime;

/// <summary>Source epochs on a shared or key-shared subscription (<see cref="SourceEpochs.Apply"/>,
/// <c>ordered: false</c>): a new snapshot after streaming starts no epoch there, and the run says so
/// loudly (degraded, with the reason and the remedy) instead of ordering an epoch that each process
/// would compute differently. The events are Debezium PostgreSQL envelopes (<c>source.lsn</c>,
/// <c>source.snapshot</c> as in debezium/debezium,
/// debezium-connector-postgres/src/main/java/io/debezium/connector/postgresql/SourceInfo.java and
/// debezium-core/src/main/java/io/debezium/connector/SnapshotRecord.java).</summary>
public sealed class SharedSubscriptionEpochTests
{
    private const string Topic = "persistent://public/default/db1.public.users";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_new_snapshot_after_streaming_on_a_shared_subscription_starts_no_epoch_and_degrades_the_run()
    {
        var reader = new SharedReader(
            [Debezium(1, "a", 100, "last")],
            [Debezium(1, "X", 1000, "false")],
            [Debezium(1, "new", 950, "first"), Debezium(2, "b", 950, "last")]);
        var sink = new ReferenceSink();
        var runner = TestRunners.OverReader(reader, sink, Topic, "debezium-json", batchSize: 10);

        using var stop = new CancellationTokenSource();
        var run = runner.RunAsync(stop.Token);
        await reader.AllAcknowledged.WaitAsync(Patience);
        await stop.CancelAsync();
        await run.WaitAsync(Patience);

        var degraded = runner.Counters.Degraded;
        Assert.NotNull(degraded);
        Assert.Contains("would start a new source epoch at", degraded.Error, StringComparison.Ordinal);
        Assert.Contains("shared subscription", degraded.Error, StringComparison.Ordinal);
        Assert.Contains("sync backfill --materializer users --shadow", degraded.Error, StringComparison.Ordinal);
        Assert.Equal(0, runner.Epochs.Of(Topic).Epoch);
        Assert.Equal(0, runner.Counters.EpochsStarted);
        // No epoch: the snapshot's older row is skipped, a new key is written.
        var rows = sink.Rows("users");
        Assert.Contains("\"X\"", rows.Single(r => r.Key.Contains('1', StringComparison.Ordinal)).Value, StringComparison.Ordinal);
        Assert.Contains("\"b\"", rows.Single(r => r.Key.Contains('2', StringComparison.Ordinal)).Value, StringComparison.Ordinal);
    }

    private static SourceMessage Debezium(int id, string name, long lsn, string snapshot) => new()
    {
        Topic = Topic,
        Position = StreamPosition.ForLine(lsn),
        Key = MessageKey.FromBytesAsBase64(Encoding.UTF8.GetBytes($"{{\"id\":{id}}}")),
        Value = Encoding.UTF8.GetBytes(string.Create(
            CultureInfo.InvariantCulture,
            $"{{\"before\":null,\"after\":{{\"id\":{id},\"name\":\"{name}\"}},\"source\":{{\"connector\":\"postgresql\",\"db\":\"app\",\"schema\":\"public\",\"table\":\"users\",\"snapshot\":\"{snapshot}\",\"lsn\":{lsn}}},\"op\":\"{(snapshot == "false" ? "u" : "r")}\",\"ts_ms\":1}}")),
        Properties = Origin.EmptyProperties,
    };

    /// <summary>A consumer of a shared subscription: delivers its batches, then waits as a live source
    /// with nothing new does; tells when the last batch was acknowledged.</summary>
    private sealed class SharedReader(params SourceMessage[][] batches) : ISourceReader
    {
        private readonly Channel<SourceMessage[]> _batches = Filled(batches);
        private readonly TaskCompletionSource _allAcknowledged = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _acknowledged;

        public Task AllAcknowledged => _allAcknowledged.Task;

        public bool SharesStreams => true;

        public IReadOnlyDictionary<string, StreamPosition> Cursor { get; } = new Dictionary<string, StreamPosition>();

        public async ValueTask<IReadOnlyList<SourceRecord>?> ReadBatchAsync(int maxRecords, TimeSpan linger, CancellationToken cancellationToken)
        {
            try
            {
                return [.. (await _batches.Reader.ReadAsync(cancellationToken)).Select(m => new SourceRecord(m, null))];
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return null;
            }
        }

        public ValueTask<StreamPosition?> AcknowledgedThroughAsync(string stream, CancellationToken cancellationToken) =>
            ValueTask.FromResult<StreamPosition?>(null);

        public ValueTask AcknowledgeAsync(CancellationToken cancellationToken)
        {
            if (Interlocked.Increment(ref _acknowledged) == batches.Length)
            {
                _allAcknowledged.TrySetResult();
            }

            return ValueTask.CompletedTask;
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;

        private static Channel<SourceMessage[]> Filled(SourceMessage[][] batches)
        {
            var channel = Channel.CreateUnbounded<SourceMessage[]>();
            foreach (var batch in batches)
            {
                channel.Writer.TryWrite(batch);
            }

            return channel;
        }
    }
}
