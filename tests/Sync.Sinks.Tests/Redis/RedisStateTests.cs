namespace Sync.Sinks.Tests.Redis;

/// <summary>The version state the sink stores next to each row: encoded by the client where the change
/// carries an LSN, by the script where it inherits the stored one; both read back as the same
/// <see cref="RedisState"/>.</summary>
public sealed class RedisStateTests
{
    [Fact]
    public async Task The_stored_state_reads_back_exactly_for_unicode_keys_index_keys_deletes_and_inherited_lsns()
    {
        await using var t = await RedisTestContext.CreateAsync(ns => new RedisTargetOptions
        {
            KeyTemplate = ns + "user:{id}",
            Indexes = [ns + "users:by_email:{email}"],
        });
        var ns = t.Namespace;
        const string id = "Zoë 漢字 🙂";
        var rowKey = ns + "user:" + id;
        async Task<RedisState> StateAsync() => RedisState.TryParse((byte[]?)await t.Db.StringGetAsync(t.Keys.State(t.Table, rowKey)))
            ?? throw new InvalidOperationException("no state stored");

        var create = Change.Create(("id", id), 10, ("email", "ä@x")).At(7).OnTopic("persistent://public/default/über");
        await t.ApplyAsync(create);
        var created = await StateAsync();
        await t.ApplyAsync(Change.Update(("id", id), 11, ("email", "ä@x")).At(8).OnTopic("persistent://public/default/über"));
        var updated = await StateAsync();
        var membersAfterUpdate = await t.MembersAsync(ns + "users:by_email:ä@x");
        await t.ApplyAsync(Change.Delete(("id", id), 12).At(9).OnTopic("persistent://public/default/über"));
        var deleted = await StateAsync();
        await t.ApplyAsync(Change.Tombstone(("id", id), 10).OnTopic("persistent://public/default/über"));
        var inherited = await StateAsync();

        Assert.Equal((false, 10L, 7L, create.KeyText), (created.Deleted, created.Version.Lsn, created.Version.Position.Entry, created.KeyText));
        Assert.Equal("persistent://public/default/über", created.Version.Stream);
        Assert.Equal([ns + "users:by_email:ä@x"], created.Indexes);
        Assert.Equal((false, 11L, 8L), (updated.Deleted, updated.Version.Lsn, updated.Version.Position.Entry));
        Assert.Equal([ns + "users:by_email:ä@x"], updated.Indexes);
        Assert.Equal([rowKey], membersAfterUpdate);
        Assert.Equal((true, 12L, 9L), (deleted.Deleted, deleted.Version.Lsn, deleted.Version.Position.Entry));
        Assert.Empty(deleted.Indexes);
        Assert.Empty(await t.MembersAsync(ns + "users:by_email:ä@x"));
        Assert.Equal((true, 12L, 10L), (inherited.Deleted, inherited.Version.Lsn, inherited.Version.Position.Entry));
        Assert.Equal(created.KeyText, inherited.KeyText);
    }
}
