using FsCheck.Xunit;

namespace Sync.Engine.Tests.Runtime;

/// <summary>Collapse with unavailable columns (unchanged TOASTed values the source did not send).</summary>
public class CollapserUnavailableTests
{
    private static readonly FieldValue U = FieldValue.Unavailable;

    [Fact]
    public void A_newer_upsert_takes_an_unavailable_column_from_the_earlier_upsert_of_the_batch()
    {
        var collapsed = Collapser.CollapseCounting([
            Change.Update(("id", 1), 10, ("name", "a"), ("bio", "long")),
            Change.Update(("id", 1), 11, ("name", "b"), ("bio", U)),
        ]);

        var only = Assert.Single(collapsed.Changes);
        Assert.Equal("b", only.After!["name"].AsText);
        Assert.Equal("long", only.After!["bio"].AsText);
        Assert.Equal(11, only.Source!.Lsn);
        Assert.Equal(0, collapsed.UnavailableNulled);
    }

    [Fact]
    public void After_an_earlier_delete_of_the_batch_an_unavailable_column_is_null_and_counted()
    {
        var collapsed = Collapser.CollapseCounting([
            Change.Update(("id", 1), 10, ("name", "a"), ("bio", "long")),
            Change.Delete(("id", 1), 11),
            Change.Update(("id", 1), 12, ("name", "b"), ("bio", U)),
        ]);

        var only = Assert.Single(collapsed.Changes);
        Assert.True(only.After!["bio"].IsNull);
        Assert.Equal(1, collapsed.UnavailableNulled);
    }

    [Fact]
    public void Batches_collapsed_one_after_another_share_nothing()
    {
        // The key index and the nulled set are reused by a thread from batch to batch: the second
        // batch must neither merge into the first's keys nor inherit its nulled count.
        var first = Collapser.CollapseCounting([
            Change.Update(("id", 1), 10, ("name", "a"), ("bio", "long")),
            Change.Delete(("id", 1), 11),
            Change.Update(("id", 1), 12, ("name", "b"), ("bio", U)),
        ]);
        var second = Collapser.CollapseCounting([
            Change.Update(("id", 1), 13, ("name", "c"), ("bio", U)),
            Change.Update(("id", 2), 14, ("name", "d"), ("bio", "short")),
        ]);

        Assert.Equal(1, first.UnavailableNulled);
        Assert.Equal(0, second.UnavailableNulled);
        Assert.Equal(["{\"id\":1}", "{\"id\":2}"], second.Changes.Select(c => c.KeyText));
        Assert.True(second.Changes[0].After!["bio"].IsUnavailable);
        Assert.Equal("c", second.Changes[0].After!["name"].AsText);
    }

    [Fact]
    public void An_unavailable_column_without_an_earlier_value_in_the_batch_stays_unavailable()
    {
        var collapsed = Collapser.CollapseCounting([
            Change.Update(("id", 1), 10, ("name", "a"), ("bio", U)),
            Change.Update(("id", 1), 11, ("name", "b"), ("bio", U)),
        ]);

        Assert.True(Assert.Single(collapsed.Changes).After!["bio"].IsUnavailable);
        Assert.Equal(0, collapsed.UnavailableNulled);
    }

    [Fact]
    public void A_redelivered_older_upsert_lends_no_value_to_the_newer_one()
    {
        var collapsed = Collapser.Collapse([
            Change.Update(("id", 1), 20, ("name", "new"), ("bio", U)),
            Change.Update(("id", 1), 10, ("name", "old"), ("bio", "old bio")),
        ]);

        Assert.True(Assert.Single(collapsed).After!["bio"].IsUnavailable);
    }

    /// <summary>For any stored state and any in-order batch of upserts (with unavailable columns) and
    /// deletes over a few keys, applying the collapsed batch to a model sink (an unavailable column
    /// keeps the stored value, or is null without a stored row) ends where applying every change does.</summary>
    [Property(MaxTest = 300)]
    public bool Applying_the_collapsed_batch_with_unavailable_columns_equals_applying_every_change(byte[] initial, (byte Key, byte Op)[] events)
    {
        var stored = new Dictionary<string, Dictionary<string, FieldValue>>(StringComparer.Ordinal);
        for (var i = 0; i < initial.Length; i++)
        {
            var key = Change.Delete(("id", initial[i] % 3), 1).KeyText;
            stored[key] = new Dictionary<string, FieldValue> { ["name"] = FieldValue.FromString($"s{i}"), ["bio"] = FieldValue.FromString($"sbio{i}") };
        }

        var changes = new List<ChangeEvent>();
        long lsn = 100;
        foreach (var (key, op) in events)
        {
            lsn++;
            var id = key % 3;
            changes.Add((op % 5) switch
            {
                0 => Change.Delete(("id", id), lsn),
                1 => Change.Update(("id", id), lsn, ("name", $"n{lsn}"), ("bio", U)),
                2 => Change.Update(("id", id), lsn, ("name", U), ("bio", $"b{lsn}")),
                3 => Change.Update(("id", id), lsn, ("name", U), ("bio", U)),
                _ => Change.Update(("id", id), lsn, ("name", $"n{lsn}"), ("bio", $"b{lsn}")),
            });
        }

        var oneByOne = Copy(stored);
        foreach (var change in changes)
        {
            Apply(oneByOne, change);
        }

        var collapsed = Copy(stored);
        foreach (var change in Collapser.Collapse(changes))
        {
            Apply(collapsed, change);
        }

        return Render(oneByOne) == Render(collapsed);
    }

    private static void Apply(Dictionary<string, Dictionary<string, FieldValue>> state, ChangeEvent change)
    {
        if (change.IsDelete)
        {
            state.Remove(change.KeyText);
            return;
        }

        state.TryGetValue(change.KeyText, out var row);
        var next = new Dictionary<string, FieldValue>(StringComparer.Ordinal);
        var after = change.After!;
        for (var i = 0; i < after.Count; i++)
        {
            next[after.Names[i]] = after.Values[i].IsUnavailable
                ? row is not null && row.TryGetValue(after.Names[i], out var kept) ? kept : FieldValue.Null
                : after.Values[i];
        }

        state[change.KeyText] = next;
    }

    private static Dictionary<string, Dictionary<string, FieldValue>> Copy(Dictionary<string, Dictionary<string, FieldValue>> state) =>
        state.ToDictionary(p => p.Key, p => new Dictionary<string, FieldValue>(p.Value, StringComparer.Ordinal), StringComparer.Ordinal);

    private static string Render(Dictionary<string, Dictionary<string, FieldValue>> state) =>
        string.Join(";", state.OrderBy(p => p.Key, StringComparer.Ordinal)
            .Select(p => p.Key + ":" + string.Join(",", p.Value.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => $"{c.Key}={c.Value}"))));
}
