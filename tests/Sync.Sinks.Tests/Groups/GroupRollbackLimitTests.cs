using Sync.Engine.Formats;
using Sync.Sources.File;
using Sync.Testing.Logging;

namespace Sync.Sinks.Tests.Groups;

/// <summary>
/// The limit on sink rollbacks a consistency group heals in a row. A SQLite sink refuses chosen group
/// transactions with <see cref="SinkCheckpointChangedException"/>, as it does when its checkpoint went
/// back (a restored copy; <see cref="GroupTransactionTests"/> shows the real refusal): the group reads
/// again from the checkpoints the sink holds each time, stops with an error naming the group after
/// <see cref="SyncRuntime.MaxGroupRollbacks"/> refusals in a row, and counts from 1 again once a reading
/// committed a transaction.
/// </summary>
public sealed class GroupRollbackLimitTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("sync-group-rollbacks-").FullName;
    private readonly RecordingLoggerFactory _logs = new();
    private readonly BankTransfers _bank = new(accounts: 10, transactions: 200, seed: 51);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task Twenty_rollbacks_in_a_row_stop_the_group_with_the_reason()
    {
        var refusing = new RefusingSinks(_ => true);

        var outcomes = await RunAsync(refusing);

        Assert.Equal(SyncRuntime.MaxGroupRollbacks, refusing.Calls);
        Assert.Equal(SyncRuntime.MaxGroupRollbacks - 1, HealedRollbacks());
        Assert.NotEmpty(outcomes);
        Assert.All(outcomes, o => Assert.Contains(
            "consistency group bank: sink local went back in time 20 times in a row without keeping a transaction in between",
            o.Failure?.Message,
            StringComparison.Ordinal));
        Assert.Contains(_logs.Entries, e => e.Message.StartsWith("consistency group bank stopped: consistency group bank: sink local went back in time 20 times", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_reading_that_committed_transactions_starts_the_count_again()
    {
        // 19 refused, one kept, 19 refused (the first of them in the reading that kept one), then all kept:
        // 38 rollbacks, never more than 19 in a row.
        var refusing = new RefusingSinks(call => call is <= 19 or (>= 21 and <= 39));

        var outcomes = await RunAsync(refusing);

        Assert.All(outcomes, o => Assert.Null(o.Failure));
        Assert.Equal(38, HealedRollbacks());
        // What `sync status` reads: the group's own checkpoint marked healing with the count in a row at
        // each reading again, and cleared once the group was past where it had been (the refusals here
        // lose nothing the sink held, so at the first commit).
        var healing = Enumerable.Range(1, 19).Select(SinkCheckpointGuard.GroupHealingMark).ToList();
        Assert.Equal(
            [.. healing, SinkCheckpointGuard.HealedMark, .. healing, SinkCheckpointGuard.HealedMark],
            refusing.Marks);
        Assert.False(SinkCheckpointGuard.MarksHealing(await StoredAsync("consistency.bank")));
        BankGroupOverFile.AssertBalances(_directory, _bank);
    }

    private async Task<IReadOnlyDictionary<string, StreamPosition>> StoredAsync(string owner)
    {
        var config = BankGroupOverFile.Parse(_directory, new SyncComponents([new FileSourceFactory()], SinkCatalog.All, MessageFormats.Names, MessageFormats.Create));
        await using var sink = await SinkCatalog.All.First(f => f.Type == "sqlite").OpenAsync(config.Sinks["local"], CancellationToken.None);
        return await sink.LoadCheckpointAsync(owner, CancellationToken.None);
    }

    private int HealedRollbacks() => _logs.Entries.Count(e => e.Message.Contains("the group reads again from the checkpoints the sink holds", StringComparison.Ordinal));

    private async Task<IReadOnlyList<MaterializerOutcome>> RunAsync(RefusingSinks refusing)
    {
        await File.WriteAllTextAsync(BankGroupOverFile.Changelog(_directory), _bank.Changelog(seed: 3));
        // A clock that stands still: no end timeout of the group's assembler fires while the run reads
        // the file, so what is applied depends on the changelog and the refusals alone.
        return await BankGroupOverFile.RunAsync(_directory, refusing.Wrap(SinkCatalog.All), new FakeTimeProvider(DateTimeOffset.UnixEpoch), _logs);
    }

    /// <summary>Opens every sink wrapped so that the group transactions <c>refuse</c> picks (by their
    /// number, from 1) are refused before the sink sees them.</summary>
    private sealed class RefusingSinks(Func<int, bool> refuse)
    {
        private int _calls;

        public int Calls => Volatile.Read(ref _calls);

        /// <summary>The heal marks written into checkpoints, in order.</summary>
        public List<StreamPosition> Marks { get; } = [];

        private bool RefusesNext() => refuse(Interlocked.Increment(ref _calls));

        public IEnumerable<ISinkFactory> Wrap(IEnumerable<ISinkFactory> factories) => factories.Select(f => new WrappingSinkFactory(f, sink => new Sink(sink, this)));

        private sealed class Sink(ISink inner, RefusingSinks owner) : DelegatingSink(inner), IAsyncDisposable
        {
            public override ValueTask<IReadOnlyList<ApplyResult>> ApplyTransactionAsync(IReadOnlyList<SinkBatch> batches, CancellationToken cancellationToken) =>
                owner.RefusesNext()
                    ? throw new SinkCheckpointChangedException(batches[0].Materializer)
                    : Inner.ApplyTransactionAsync(batches, cancellationToken);

            public override ValueTask<ApplyResult> ApplyAsync(SinkBatch batch, CancellationToken cancellationToken)
            {
                if (batch.Checkpoint.TryGetValue(SinkCheckpointGuard.HealingStream, out var mark))
                {
                    owner.Marks.Add(mark);
                }

                return Inner.ApplyAsync(batch, cancellationToken);
            }

            // Opened by the factory above, so closed here (a plain wrapper leaves that to its opener).
            ValueTask IAsyncDisposable.DisposeAsync() => Inner.DisposeAsync();
        }
    }
}
