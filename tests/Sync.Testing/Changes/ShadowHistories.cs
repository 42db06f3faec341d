using Sync.Engine.Changes;
using Sync.Engine.Sinks;

namespace Sync.Testing.Changes;

/// <summary>Random histories for the differential tests of a shadow backfill's bulk load against its
/// guarded path: upserts and snapshot reads with repeated and stale LSNs (keys 1 to 8, LSNs 1 to 39),
/// deletes, tombstones and changes without an LSN, truncates, a column that appears midway, erasures
/// and counts between batches, in batches of random size.</summary>
public static class ShadowHistories
{
    public abstract record Step;

    /// <summary>Changes applied as one batch, positions 1, 2, … across the history.</summary>
    public sealed record Batch(ChangeEvent[] Changes) : Step;

    /// <summary>Erase the subject with this <c>id</c> (from the live target or the shadow, as the test says).</summary>
    public sealed record Erase(long Id) : Step;

    /// <summary>Count the subject with this <c>id</c> in the shadow (a read before the swap).</summary>
    public sealed record Count(long Id) : Step;

    /// <param name="random">The source of the history.</param>
    /// <param name="maxChanges">Changes, steps between batches included, are fewer than this.</param>
    /// <param name="maxBatch">Batches hold fewer changes than this.</param>
    /// <param name="refusedValues">Whether some upserts carry a text where the first rows had a number
    /// in column <c>n</c> (a value the target may refuse), taken from the share of deletes.</param>
    public static List<Step> Generate(Random random, int maxChanges, int maxBatch, bool refusedValues)
    {
        ArgumentNullException.ThrowIfNull(random);
        var steps = new List<Step>();
        var position = 0L;
        var withExtra = false;
        var count = random.Next(1, maxChanges);
        var pending = new List<ChangeEvent>();
        for (var i = 0; i < count; i++)
        {
            var key = ("id", (object?)(long)random.Next(1, 9));
            var lsn = (long)random.Next(1, 40);
            position++;
            var roll = random.Next(100);
            ChangeEvent change;
            if (roll < 55)
            {
                (string, object?)[] columns = withExtra
                    ? [("name", $"v{random.Next(4)}"), ("n", random.Next(3) == 0 ? null : random.Next(100)), ("extra", random.Next(9))]
                    : [("name", $"v{random.Next(4)}"), ("n", random.Next(3) == 0 ? null : random.Next(100))];
                change = random.Next(2) == 0 ? Change.Upsert(key, lsn, columns) : Change.Read(key, lsn, columns);
            }
            else if (refusedValues && roll < 57)
            {
                change = Change.Upsert(key, lsn, ("name", "refused"), ("n", "not a number"));
            }
            else if (roll < 78)
            {
                change = Change.Delete(key, lsn);
            }
            else if (roll < 81)
            {
                change = Change.Tombstone(key, position);
            }
            else if (roll < 84)
            {
                change = Change.Upsert(key, null, ("name", "no lsn"), ("n", 1));
            }
            else if (roll < 86)
            {
                change = Change.Truncate(lsn);
            }
            else if (roll < 88)
            {
                withExtra = true;
                continue;
            }
            else if (roll < 93)
            {
                Flush();
                steps.Add(new Erase((long)key.Item2!));
                continue;
            }
            else if (roll < 95)
            {
                Flush();
                steps.Add(new Count((long)key.Item2!));
                continue;
            }
            else
            {
                Flush();
                continue;
            }

            pending.Add(change.At(position));
            if (pending.Count >= random.Next(1, maxBatch))
            {
                Flush();
            }
        }

        Flush();
        return steps;

        void Flush()
        {
            if (pending.Count > 0)
            {
                steps.Add(new Batch([.. pending]));
                pending.Clear();
            }
        }
    }

    /// <summary>Applies a history to the shadow of <paramref name="shadow"/> through
    /// <see cref="ShadowWritingSink"/> as the runtime does: batches and counts to the shadow, erasures to
    /// the live target. Returns the positions of the rejected changes.</summary>
    public static async Task<List<string>> ReplayAsync(List<Step> steps, ISink sink, ShadowTarget shadow)
    {
        ArgumentNullException.ThrowIfNull(steps);
        ArgumentNullException.ThrowIfNull(shadow);
        var writing = new ShadowWritingSink(sink, shadow);
        var rejected = new List<string>();
        foreach (var step in steps)
        {
            switch (step)
            {
                case Batch batch:
                    var checkpoint = batch.Changes.GroupBy(c => c.Origin.Topic).ToDictionary(g => g.Key, g => g.Max(c => c.Origin.Position));
                    var result = await writing.ApplyAsync(new SinkBatch(shadow.Materializer, shadow.Live, batch.Changes, checkpoint), CancellationToken.None);
                    rejected.AddRange(result.Rejected.Select(r => r.Change.Origin.Position.ToString()));
                    break;
                case Erase erase:
                    await sink.EraseAsync(shadow.Live, new SubjectMatch("id", FieldValue.FromInt64(erase.Id)), CancellationToken.None);
                    break;
                case Count read:
                    await writing.CountAsync(shadow.Live, new SubjectMatch("id", FieldValue.FromInt64(read.Id)), CancellationToken.None);
                    break;
            }
        }

        return rejected;
    }
}
