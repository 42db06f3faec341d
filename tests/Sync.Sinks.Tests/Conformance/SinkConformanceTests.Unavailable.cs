using FsCheck;
using FsCheck.Xunit;

namespace Sync.Sinks.Tests.Conformance;

/// <summary>Unavailable values (an unchanged TOASTed PostgreSQL column under REPLICA IDENTITY DEFAULT,
/// which Debezium sends as its <c>unavailable.value.placeholder</c>: debezium/debezium,
/// documentation/modules/ROOT/pages/connectors/postgresql.adoc, "Toasted values"), and primary-key
/// changes (the same document, "Primary key updates": a delete of the old key and a create of the new
/// key, emitted by RelationalChangeRecordEmitter.emitUpdateAsPrimaryKeyChangeRecord with one offset).</summary>
public abstract partial class SinkConformanceTests
{
    private static readonly FieldValue U = FieldValue.Unavailable;

    [Fact]
    public async Task An_unavailable_column_keeps_the_stored_value()
    {
        await using var h = await CreateHarnessAsync();
        var t = h.Target("toast_keep");
        var bio = new string('b', 9000);

        await ApplyAsync(h, t, Change.Create(("id", 1), 10, ("name", "ada"), ("bio", bio)));
        var result = await ApplyAsync(h, t, Change.Update(("id", 1), 11, ("name", "ada l"), ("bio", U)));

        Assert.Equal([$"bio={bio}|id=1|name=ada l"], await h.ReadAsync(t));
        Assert.Equal(1, result.Upserted);
        Assert.Equal(0, result.Unavailable);
    }

    [Fact]
    public async Task A_batch_mixing_unavailable_columns_and_full_rows_keeps_and_writes_each_row_exactly()
    {
        await using var h = await CreateHarnessAsync();
        var t = h.Target("toast_mixed");
        await ApplyAsync(h, t,
            Change.Create(("id", 1), 10, ("name", "a"), ("bio", "bio1"), ("doc", "doc1")),
            Change.Create(("id", 2), 11, ("name", "b"), ("bio", "bio2"), ("doc", "doc2")),
            Change.Create(("id", 3), 12, ("name", "c"), ("bio", "bio3"), ("doc", "doc3")));

        var result = await ApplyAsync(h, t,
            Change.Update(("id", 1), 20, ("name", "a2"), ("bio", U), ("doc", "doc1b")),
            Change.Update(("id", 2), 21, ("name", "b2"), ("bio", "bio2b"), ("doc", "doc2b")),
            Change.Update(("id", 3), 22, ("name", "c2"), ("bio", U), ("doc", U)),
            Change.Create(("id", 4), 23, ("name", "d"), ("bio", "bio4"), ("doc", "doc4")),
            Change.Update(("id", 5), 24, ("name", U), ("bio", "bio5"), ("doc", "doc5")));

        Assert.Equal(
            [
                "bio=bio1|doc=doc1b|id=1|name=a2",
                "bio=bio2b|doc=doc2b|id=2|name=b2",
                "bio=bio3|doc=doc3|id=3|name=c2",
                "bio=bio4|doc=doc4|id=4|name=d",
                "bio=bio5|doc=doc5|id=5|name=null",
            ],
            await h.ReadAsync(t));
        Assert.Equal(5, result.Upserted);
        Assert.Equal(1, result.Unavailable);
    }

    [Fact]
    public async Task Collapsed_with_an_earlier_change_of_the_batch_the_earlier_value_survives()
    {
        await using var h = await CreateHarnessAsync();
        var t = h.Target("toast_collapse");
        await ApplyAsync(h, t,
            Change.Create(("id", 1), 10, ("name", "a"), ("bio", "stored1")),
            Change.Create(("id", 2), 11, ("name", "b"), ("bio", "stored2")));

        var batch = Collapser.CollapseCounting([
            Change.Update(("id", 1), 20, ("name", "a2"), ("bio", "batch1")),
            Change.Update(("id", 1), 21, ("name", "a3"), ("bio", U)),
            Change.Delete(("id", 2), 22),
            Change.Update(("id", 2), 23, ("name", "b2"), ("bio", U)),
        ]);
        await ApplyAsync(h, t, [.. batch.Changes]);

        // Key 1: the batch's earlier value, not the stored one. Key 2: deleted in the batch, so no value is left to keep.
        Assert.Equal(["bio=batch1|id=1|name=a3", "bio=null|id=2|name=b2"], await h.ReadAsync(t));
        Assert.Equal(1, batch.UnavailableNulled);
    }

    [Fact]
    public async Task Without_a_stored_row_an_unavailable_column_is_null_and_counted()
    {
        await using var h = await CreateHarnessAsync();
        var t = h.Target("toast_first");

        var first = await ApplyAsync(h, t, Change.Update(("id", 1), 10, ("name", "a"), ("bio", U)));
        await ApplyAsync(h, t, Change.Create(("id", 2), 11, ("name", "b"), ("bio", "bio2")));
        await ApplyAsync(h, t, Change.Delete(("id", 2), 12));
        var afterDelete = await ApplyAsync(h, t, Change.Update(("id", 2), 13, ("name", "b2"), ("bio", U)));

        Assert.Equal(["bio=null|id=1|name=a", "bio=null|id=2|name=b2"], await h.ReadAsync(t));
        Assert.Equal(1, first.Unavailable);
        Assert.Equal(1, afterDelete.Unavailable);
    }

    [Fact]
    public async Task Changes_without_an_LSN_keep_unavailable_columns_too()
    {
        await using var h = await CreateHarnessAsync();
        var t = h.Target("toast_no_lsn");

        await ApplyAsync(h, t, Change.Create(("id", 1), null, ("name", "a"), ("bio", "bio1")).At(1));
        var result = await ApplyAsync(h, t,
            Change.Update(("id", 1), null, ("name", "a2"), ("bio", U)).At(2),
            Change.Update(("id", 2), null, ("name", "b"), ("bio", U)).At(3));

        Assert.Equal(["bio=bio1|id=1|name=a2", "bio=null|id=2|name=b"], await h.ReadAsync(t));
        Assert.Equal(2, result.Upserted);
        Assert.Equal(1, result.Unavailable);
    }

    [Fact]
    public async Task A_stale_change_with_an_unavailable_column_changes_nothing()
    {
        await using var h = await CreateHarnessAsync();
        var t = h.Target("toast_stale");

        await ApplyAsync(h, t, Change.Create(("id", 1), 20, ("name", "new"), ("bio", "bio")));
        var result = await ApplyAsync(h, t, Change.Update(("id", 1), 10, ("name", "old"), ("bio", U)));

        Assert.Equal(["bio=bio|id=1|name=new"], await h.ReadAsync(t));
        Assert.Equal(1, result.Stale);
        Assert.Equal(0, result.Unavailable);
    }

    /// <summary>Random in-order changelogs whose updates leave columns unavailable, in random batches
    /// collapsed as the runner collapses them: the sink ends in the state of a model that keeps a
    /// column's value where the change did not send it (null where no row was stored).</summary>
    [Property(MaxTest = 25)]
    public bool Any_changelog_with_unavailable_columns_ends_in_the_state_of_a_model_that_skips_them(byte[] ops, byte[] keys, PositiveInt batchSize)
    {
        var log = new List<ChangeEvent>();
        var model = new SortedDictionary<long, Dictionary<string, string>>();
        long lsn = 0;
        for (var i = 0; i < Math.Min(ops.Length, keys.Length); i++)
        {
            long id = keys[i] % 4;
            lsn++;
            var op = ops[i] % 8;
            if (op == 0)
            {
                log.Add(Change.Delete(("id", id), lsn));
                model.Remove(id);
                continue;
            }

            // Bits 1 and 2 of the op leave name and bio unavailable; a create (op 7) sends both.
            var nameMissing = op != 7 && (op & 1) == 1;
            var bioMissing = op != 7 && (op & 2) == 2;
            var name = $"n{lsn}";
            var bio = $"bio{lsn}-" + new string('x', (int)(lsn % 5) * 100);
            log.Add((op == 7 ? ChangeOp.Create : ChangeOp.Update) switch
            {
                ChangeOp.Create => Change.Create(("id", id), lsn, ("name", name), ("bio", bio)),
                _ => Change.Update(("id", id), lsn, ("name", nameMissing ? U : name), ("bio", bioMissing ? U : bio)),
            });
            model.TryGetValue(id, out var stored);
            model[id] = new Dictionary<string, string>
            {
                ["name"] = nameMissing ? stored?["name"] ?? "null" : name,
                ["bio"] = bioMissing ? stored?["bio"] ?? "null" : bio,
            };
        }

        var expected = model.Select(r => $"bio={r.Value["bio"]}|id={r.Key}|name={r.Value["name"]}").Order(StringComparer.Ordinal).ToList();
        return Task.Run(async () =>
        {
            await using var h = await CreateHarnessAsync();
            var t = h.Target("toast_property");
            foreach (var batch in log.Chunk(Math.Min(batchSize.Get, 6)))
            {
                await ApplyAsync(h, t, [.. Collapser.Collapse(batch)]);
            }

            return expected.SequenceEqual(await h.ReadAsync(t));
        }).GetAwaiter().GetResult();
    }

    [Theory]
    [InlineData(true, true)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(false, false)]
    public async Task A_primary_key_change_ends_with_exactly_the_new_row(bool deleteFirst, bool oneBatch)
    {
        await using var h = await CreateHarnessAsync();
        var t = h.Target("pk_change");
        await ApplyAsync(h, t, Change.Create(("id", 1), 10, ("name", "a"), ("bio", "kept")), Change.Create(("id", 3), 11, ("name", "c"), ("bio", "other")));

        // UPDATE t SET id = 2 WHERE id = 1: a delete of key 1 and a create of key 2 at one LSN, the
        // delete followed by its tombstone (Debezium Server passes tombstones; Pulsar IO drops them).
        const long lsn = 50;
        var delete = Change.Delete(("id", 1), lsn).At(100);
        var tombstone = Change.Tombstone(("id", 1), 101);
        var create = Change.Create(("id", 2), lsn, ("name", "a"), ("bio", "kept")).At(102);
        ChangeEvent[] changes = deleteFirst ? [delete, tombstone, create] : [create, delete, tombstone];
        if (oneBatch)
        {
            await ApplyAsync(h, t, [.. Collapser.Collapse(changes)]);
        }
        else
        {
            foreach (var change in changes)
            {
                await ApplyAsync(h, t, change);
            }
        }

        Assert.Equal(["bio=kept|id=2|name=a", "bio=other|id=3|name=c"], await h.ReadAsync(t));

        // Redelivered, the changes of the key change leave the same state.
        await ApplyAsync(h, t, [.. Collapser.Collapse(changes)]);
        Assert.Equal(["bio=kept|id=2|name=a", "bio=other|id=3|name=c"], await h.ReadAsync(t));
    }
}
