using BenchmarkDotNet.Attributes;
using Sync.Engine.Changes;
using Sync.Engine.Runtime;

namespace Sync.Bench.Micro;

/// <summary>Collapsing a batch of 1,000 changes to the last change per key, with the key
/// distribution of the sink benchmarks (10 changes per key over the whole stream).</summary>
[MemoryDiagnoser]
public class CollapseBenchmarks
{
    private List<ChangeEvent> _batch = null!;

    [Params(1000)]
    public int BatchSize { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(42);
        _batch = [.. Enumerable.Range(1, BatchSize).Select(i =>
        {
            var id = FieldValue.FromInt64(random.Next(BatchSize / 2));
            var key = new Row(["id"], [id]);
            return new ChangeEvent
            {
                Op = ChangeOp.Update,
                Key = key,
                After = new Row(["id", "name", "qty"], [id, FieldValue.FromString($"item {i}"), FieldValue.FromInt64(i)]),
                Source = new SourceInfo { Lsn = 1000 + i },
                Origin = new Origin { Topic = "persistent://public/default/items", Position = new StreamPosition(1, i) },
            };
        })];
    }

    [Benchmark]
    public int Collapse() => Collapser.Collapse(_batch).Count;
}
