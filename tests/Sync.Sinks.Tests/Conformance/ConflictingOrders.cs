namespace Sync.Sinks.Tests.Conformance;

/// <summary>
/// Two sink instances writing one target at the same time, each key's changes in opposite orders: one
/// applies every key's history oldest first, the other newest first, one step per batch. This is what
/// two key-shared consumers do after a rebalance when per-key order is lost; only the sink's version
/// check decides the outcome. Keys with an odd id end deleted, the others with <c>name=final</c>.
/// </summary>
internal static class ConflictingOrders
{
    public const int KeyCount = 40;

    /// <summary>The step-th change of every key: create, update, delete, create, update, and for odd ids a
    /// last delete. LSNs are distinct and grow with the step.</summary>
    public static List<ChangeEvent[]> Steps()
    {
        var steps = new List<ChangeEvent[]>();
        for (var step = 0; step < 6; step++)
        {
            var changes = new List<ChangeEvent>();
            for (var id = 1; id <= KeyCount; id++)
            {
                var lsn = 1000L * (step + 1) + id;
                ChangeEvent? change = step switch
                {
                    0 => Change.Create(("id", id), lsn, ("name", "created")),
                    1 => Change.Update(("id", id), lsn, ("name", "updated")),
                    2 => Change.Delete(("id", id), lsn),
                    3 => Change.Create(("id", id), lsn, ("name", "recreated")),
                    4 => Change.Update(("id", id), lsn, ("name", "final")),
                    _ => id % 2 == 1 ? Change.Delete(("id", id), lsn) : null,
                };
                if (change is not null)
                {
                    changes.Add(change);
                }
            }

            steps.Add([.. changes]);
        }

        return steps;
    }

    /// <summary>The ids that end with a row (named <c>final</c>), in order.</summary>
    public static IEnumerable<int> Survivors => Enumerable.Range(1, KeyCount).Where(id => id % 2 == 0);

    /// <summary>Runs both writers at once and waits for both (failing after two minutes).</summary>
    public static async Task RunAsync(ISink forward, ISink backward, TargetSpec target, string materializer)
    {
        var steps = Steps();
        var up = Task.Run(async () =>
        {
            foreach (var step in steps)
            {
                await ApplyAsync(forward, target, materializer, step);
            }
        });
        var down = Task.Run(async () =>
        {
            foreach (var step in Enumerable.Reverse(steps))
            {
                await ApplyAsync(backward, target, materializer, step);
            }
        });
        await Task.WhenAll(up, down).WaitAsync(TimeSpan.FromMinutes(2));
    }

    private static async Task ApplyAsync(ISink sink, TargetSpec target, string materializer, ChangeEvent[] changes)
    {
        var checkpoint = changes.GroupBy(c => c.Origin.Topic).ToDictionary(g => g.Key, g => g.Max(c => c.Origin.Position));
        var result = await sink.ApplyAsync(new SinkBatch(materializer, target, changes, checkpoint), CancellationToken.None);
        Assert.Empty(result.Rejected);
    }
}
