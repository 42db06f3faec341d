namespace Sync.Sinks.Tests.Conformance;

/// <summary>The conditional checkpoint write (<see cref="SinkBatch.ExpectedCheckpoint"/>) every sink
/// keeps (<see cref="IMonotonicCheckpointSink"/>): refused when the stored checkpoint went back below
/// the expected one, and never lowering a stored position it names, so that on a shared subscription
/// another process's late write from an older observation cannot take it back.</summary>
public abstract partial class SinkConformanceTests
{
    private const string Stream = "persistent://public/default/checkpointed";

    private static Dictionary<string, StreamPosition> At(long entry) => new() { [Stream] = new StreamPosition(0, entry) };

    private static async Task WriteCheckpointAsync(ISinkHarness harness, string materializer, TargetSpec target, IReadOnlyDictionary<string, StreamPosition> checkpoint, IReadOnlyDictionary<string, StreamPosition>? expected) =>
        await harness.Sink.ApplyAsync(new SinkBatch(materializer, target, [], checkpoint) { ExpectedCheckpoint = expected }, CancellationToken.None);

    [Fact]
    public async Task The_sink_keeps_the_conditional_checkpoint_rule()
    {
        await using var h = await CreateHarnessAsync();
        Assert.True(IMonotonicCheckpointSink.Of(h.Sink));
    }

    [Fact]
    public async Task A_conditional_checkpoint_write_never_lowers_a_stored_position()
    {
        await using var h = await CreateHarnessAsync();
        var t = h.Target("monotonic");
        var materializer = Materializer + "-monotonic";

        // A stream not stored yet is expected at the start.
        await WriteCheckpointAsync(h, materializer, t, At(50), new Dictionary<string, StreamPosition> { [Stream] = StreamPosition.Start });
        // A late write from an older observation: the stored position stays; an entry not named is written as given.
        await WriteCheckpointAsync(h, materializer, t, new Dictionary<string, StreamPosition>(At(30)) { ["sync:healing"] = new(1, 0) }, At(40));

        var stored = await h.Sink.LoadCheckpointAsync(materializer, CancellationToken.None);
        Assert.Equal(new StreamPosition(0, 50), stored[Stream]);
        Assert.Equal(new StreamPosition(1, 0), stored["sync:healing"]);

        await WriteCheckpointAsync(h, materializer, t, At(70), At(50));
        Assert.Equal(new StreamPosition(0, 70), (await h.Sink.LoadCheckpointAsync(materializer, CancellationToken.None))[Stream]);
    }

    [Fact]
    public async Task A_conditional_checkpoint_write_is_refused_when_the_stored_one_went_back()
    {
        await using var h = await CreateHarnessAsync();
        var t = h.Target("went_back");
        var materializer = Materializer + "-went-back";
        await WriteCheckpointAsync(h, materializer, t, At(50), null);

        // Read at 0:60 before the batch, held at 0:50 when it is written: the sink went back between.
        await Assert.ThrowsAsync<SinkCheckpointChangedException>(() => WriteCheckpointAsync(h, materializer, t, At(80), At(60)));
        Assert.Equal(new StreamPosition(0, 50), (await h.Sink.LoadCheckpointAsync(materializer, CancellationToken.None))[Stream]);

        // Gone altogether (an empty restart) is behind too.
        await Assert.ThrowsAsync<SinkCheckpointChangedException>(
            () => WriteCheckpointAsync(h, materializer, t, At(80), new Dictionary<string, StreamPosition>(At(50)) { ["persistent://public/default/other"] = new(0, 1) }));
        Assert.False((await h.Sink.LoadCheckpointAsync(materializer, CancellationToken.None)).ContainsKey("persistent://public/default/other"));
    }
}
