using FsCheck;
using FsCheck.Xunit;

namespace Sync.Engine.Tests.Runtime;

public class CollapserTests
{
    [Fact]
    public void A_delete_after_an_upsert_of_the_same_key_is_a_delete()
    {
        var collapsed = Collapser.Collapse([
            Change.Create(("id", 1), 10, ("name", "a")),
            Change.Delete(("id", 1), 11),
        ]);

        var only = Assert.Single(collapsed);
        Assert.Equal(ChangeOp.Delete, only.Op);
    }

    [Fact]
    public void An_upsert_after_a_delete_of_the_same_key_is_the_upsert()
    {
        var collapsed = Collapser.Collapse([
            Change.Delete(("id", 1), 10),
            Change.Create(("id", 1), 11, ("name", "again")),
        ]);

        var only = Assert.Single(collapsed);
        Assert.Equal("again", only.After!["name"].AsText);
    }

    [Fact]
    public void A_redelivered_older_change_does_not_replace_a_newer_one()
    {
        var collapsed = Collapser.Collapse([
            Change.Update(("id", 1), 20, ("name", "new")),
            Change.Update(("id", 1), 10, ("name", "old")),
        ]);

        Assert.Equal("new", Assert.Single(collapsed).After!["name"].AsText);
    }

    [Fact]
    public void Different_keys_are_all_kept_in_first_seen_order()
    {
        var collapsed = Collapser.Collapse([
            Change.Create(("id", 2), 10, ("v", 1)),
            Change.Create(("id", 1), 11, ("v", 1)),
            Change.Update(("id", 2), 12, ("v", 2)),
        ]);

        Assert.Equal(["{\"id\":2}", "{\"id\":1}"], collapsed.Select(c => c.KeyText));
        Assert.Equal(2, collapsed[0].After!["v"].AsInt64);
    }

    [Fact]
    public void A_truncate_keeps_changes_before_it_apart_from_changes_after_it()
    {
        var collapsed = Collapser.Collapse([
            Change.Create(("id", 1), 10, ("v", 1)),
            Change.Truncate(11),
            Change.Create(("id", 1), 12, ("v", 2)),
        ]);

        Assert.Equal([ChangeOp.Create, ChangeOp.Truncate, ChangeOp.Create], collapsed.Select(c => c.Op));
    }

    [Fact]
    public void A_tombstone_without_lsn_after_a_delete_of_the_same_stream_wins_by_position()
    {
        var collapsed = Collapser.Collapse([
            Change.Delete(("id", 1), 10).At(5),
            Change.Tombstone(("id", 1), 6),
        ]);

        Assert.Equal(ChangeOp.Tombstone, Assert.Single(collapsed).Op);
    }

    /// <summary>The rule behind batching: applying a collapsed batch leaves exactly the state that
    /// applying every change one by one leaves, for any order of arrival (redeliveries and replays
    /// included), with never-regress on both sides.</summary>
    [Property(MaxTest = 300)]
    public bool Applying_the_collapsed_batch_equals_applying_every_change((byte Key, byte Op, byte Lsn)[] events)
    {
        var changes = events.Select((e, i) => MakeChange(e.Key % 4, e.Op % 4, e.Lsn % 16, i)).ToList();

        var oneByOne = new ReferenceSink();
        oneByOne.Apply("t", changes);
        var batched = new ReferenceSink();
        batched.Apply("t", Collapser.Collapse(changes));

        return oneByOne.Rows("t").OrderBy(r => r.Key).SequenceEqual(batched.Rows("t").OrderBy(r => r.Key));
    }

    [Property(MaxTest = 200)]
    public bool A_collapsed_batch_has_at_most_one_change_per_key((byte Key, byte Op, byte Lsn)[] events)
    {
        var changes = events.Select((e, i) => MakeChange(e.Key % 4, e.Op % 3, e.Lsn % 16, i)).ToList();
        var collapsed = Collapser.Collapse(changes);
        return collapsed.Select(c => c.KeyText).Distinct().Count() == collapsed.Count;
    }

    private static ChangeEvent MakeChange(int key, int op, int lsn, int position) => op switch
    {
        0 => Change.Create(("id", key), lsn, ("v", position)).At(position),
        1 => Change.Update(("id", key), lsn, ("v", position)).At(position),
        2 => Change.Delete(("id", key), lsn).At(position),
        _ => Change.Tombstone(("id", key), position),
    };
}
