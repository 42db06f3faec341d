using Sync.Engine.Sinks;

namespace Sync.Engine.Tests.Sinks;

/// <summary>A shadow-writing sink sends every call that names a target to the shadow, and many values
/// in one call of the inner sink (not one call per value).</summary>
public sealed class ShadowWritingSinkTests
{
    private static readonly ShadowTarget Shadow = new("users", new TargetSpec("users"), new TargetSpec("users__shadow"), "users__shadow", new Dictionary<string, StreamPosition>());

    [Fact]
    public async Task An_erase_of_many_values_is_one_batch_erase_of_the_inner_sink_in_the_shadow()
    {
        var inner = new RecordingSink();
        var sink = new ShadowWritingSink(inner, Shadow);

        var removed = await sink.EraseManyAsync(new TargetSpec("users"), new SubjectMatches("email", [FieldValue.FromString("a"), FieldValue.FromString("b")]), CancellationToken.None);

        Assert.Equal([2L, 2L], removed);
        Assert.Equal(["EraseMany users__shadow 2"], inner.Calls);
    }

    [Fact]
    public async Task A_count_of_many_values_is_one_batch_count_of_the_inner_sink_in_the_shadow()
    {
        var inner = new RecordingSink();
        var sink = new ShadowWritingSink(inner, Shadow);

        await sink.CountManyAsync(new TargetSpec("users"), new SubjectMatches("email", [FieldValue.FromString("a"), FieldValue.FromString("b")]), CancellationToken.None);

        Assert.Equal(["CountMany users__shadow 2"], inner.Calls);
    }

    /// <summary>Records the calls it gets; every value matches two rows.</summary>
    private sealed class RecordingSink : ISink
    {
        public List<string> Calls { get; } = [];

        public string Name => "recording";

        public ValueTask<IReadOnlyDictionary<string, StreamPosition>> LoadCheckpointAsync(string materializer, CancellationToken cancellationToken) =>
            ValueTask.FromResult<IReadOnlyDictionary<string, StreamPosition>>(new Dictionary<string, StreamPosition>());

        public ValueTask<ApplyResult> ApplyAsync(SinkBatch batch, CancellationToken cancellationToken) => ValueTask.FromResult(ApplyResult.Empty);

        public ValueTask<long> EraseAsync(TargetSpec target, SubjectMatch match, CancellationToken cancellationToken)
        {
            Calls.Add($"Erase {target.Table}");
            return ValueTask.FromResult(2L);
        }

        public ValueTask<long> CountAsync(TargetSpec target, SubjectMatch match, CancellationToken cancellationToken)
        {
            Calls.Add($"Count {target.Table}");
            return ValueTask.FromResult(2L);
        }

        public ValueTask<IReadOnlyList<long>> EraseManyAsync(TargetSpec target, SubjectMatches matches, CancellationToken cancellationToken)
        {
            Calls.Add($"EraseMany {target.Table} {matches.Values.Count}");
            return ValueTask.FromResult<IReadOnlyList<long>>([.. matches.Values.Select(_ => 2L)]);
        }

        public ValueTask<IReadOnlyList<long>> CountManyAsync(TargetSpec target, SubjectMatches matches, CancellationToken cancellationToken)
        {
            Calls.Add($"CountMany {target.Table} {matches.Values.Count}");
            return ValueTask.FromResult<IReadOnlyList<long>>([.. matches.Values.Select(_ => 2L)]);
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
