using StackExchange.Redis;
using StreamPosition = Sync.Engine.Changes.StreamPosition;

namespace Sync.Sinks.Tests.Redis;

/// <summary>Index sets on a standalone Redis (changed in each row's own script) and on a Redis Cluster (updated
/// after the rows of the batch, and converging: docs/configuration.md, "Index sets on a Redis Cluster").</summary>
public abstract class RedisIndexSetTests
{
    protected abstract bool Cluster { get; }

    private protected Task<RedisTestContext> CreateAsync(Func<string, RedisTargetOptions> target, Action<RedisSinkOptions>? configure = null) =>
        RedisTestContext.CreateAsync(target, configure, Cluster);

    [Fact]
    public async Task Index_sets_follow_updates_and_deletes()
    {
        await using var t = await CreateAsync(ns => new RedisTargetOptions
        {
            KeyTemplate = ns + "user:{id}",
            Indexes = [ns + "users:by_email:{email}", ns + "users:by_city:{city}"],
        });
        string ns = t.Namespace;

        await t.ApplyAsync(
            Change.Create(("id", 1), 10, ("email", "a@x"), ("city", "oslo")),
            Change.Create(("id", 2), 11, ("email", "b@x"), ("city", "oslo")));
        Assert.Equal([ns + "user:1"], await t.MembersAsync(ns + "users:by_email:a@x"));
        Assert.Equal([ns + "user:1", ns + "user:2"], await t.MembersAsync(ns + "users:by_city:oslo"));

        await t.ApplyAsync(Change.Update(("id", 1), 12, ("email", "new@x"), ("city", "oslo")));
        Assert.Empty(await t.MembersAsync(ns + "users:by_email:a@x"));
        Assert.Equal([ns + "user:1"], await t.MembersAsync(ns + "users:by_email:new@x"));
        Assert.Equal([ns + "user:1", ns + "user:2"], await t.MembersAsync(ns + "users:by_city:oslo"));

        await t.ApplyAsync(Change.Update(("id", 2), 13, ("email", "b@x"), ("city", null)));
        Assert.Equal([ns + "user:1"], await t.MembersAsync(ns + "users:by_city:oslo"));

        await t.ApplyAsync(Change.Delete(("id", 1), 14));
        Assert.Empty(await t.MembersAsync(ns + "users:by_email:new@x"));
        Assert.Empty(await t.MembersAsync(ns + "users:by_city:oslo"));
        Assert.Equal([ns + "user:2"], await t.MembersAsync(ns + "users:by_email:b@x"));
    }

    [Fact]
    public async Task A_stale_update_leaves_the_index_sets_alone()
    {
        await using var t = await CreateAsync(ns => new RedisTargetOptions { KeyTemplate = ns + "user:{id}", Indexes = [ns + "by_email:{email}"] });
        string ns = t.Namespace;

        await t.ApplyAsync(Change.Create(("id", 1), 20, ("email", "new@x")));
        var result = await t.ApplyAsync(Change.Update(("id", 1), 10, ("email", "old@x")));

        Assert.Equal(1, result.Stale);
        Assert.Empty(await t.MembersAsync(ns + "by_email:old@x"));
        Assert.Equal([ns + "user:1"], await t.MembersAsync(ns + "by_email:new@x"));
    }

    [Fact]
    public async Task Erase_by_an_indexed_column_finds_the_rows_through_the_index_and_clears_it()
    {
        await using var t = await CreateAsync(ns => new RedisTargetOptions { KeyTemplate = ns + "user:{id}", Indexes = [ns + "by_customer:{customer}"] });
        string ns = t.Namespace;
        await t.ApplyAsync(
            Change.Create(("id", 1), 10, ("customer", 7)),
            Change.Create(("id", 2), 11, ("customer", 7)),
            Change.Create(("id", 3), 12, ("customer", 8)));

        var match = new SubjectMatch("customer", FieldValue.FromInt64(7));
        Assert.Equal(2, await t.Sink.CountAsync(t.Target, match, CancellationToken.None));
        Assert.Equal(2, await t.Sink.EraseAsync(t.Target, match, CancellationToken.None));

        Assert.Equal(0, await t.Sink.CountAsync(t.Target, match, CancellationToken.None));
        Assert.Empty(await t.MembersAsync(ns + "by_customer:7"));
        Assert.Equal(["customer=8|id=3"], await t.RowsAsync());
        var replay = await t.ApplyAsync(Change.Update(("id", 2), 11, ("customer", 7)), Change.Update(("id", 1), 50, ("customer", 7)));
        Assert.Equal(2, replay.Stale);
    }

}

public sealed class RedisStandaloneIndexSetTests : RedisIndexSetTests
{
    protected override bool Cluster => false;
}

/// <summary>On the Redis Cluster (SYNC_TEST_REDIS_CLUSTER: three primaries with a replica each). Like the
/// cluster conformance suite, these fail with the reason where the variable is not set.</summary>
public sealed class RedisClusterIndexSetTests : RedisIndexSetTests
{
    private static readonly IReadOnlyDictionary<string, StreamPosition> NoCheckpoint = new Dictionary<string, StreamPosition>();

    protected override bool Cluster => true;

    [Fact]
    public async Task A_failure_between_the_rows_and_the_index_update_is_healed_when_the_batch_is_replayed()
    {
        await using var t = await CreateAsync(ns => new RedisTargetOptions { KeyTemplate = ns + "user:{id}", Indexes = [ns + "by_city:{city}"] });
        var ns = t.Namespace;
        var first = Enumerable.Range(1, 30).Select(i => Change.Create(("id", (object?)i), i, ("city", "oslo"))).ToArray();
        await t.ApplyAsync(first);
        var checkpoint = await t.Sink.LoadCheckpointAsync(RedisTestContext.Materializer, CancellationToken.None);

        // Even rows move to bergen, every fifth row is deleted.
        var second = Enumerable.Range(1, 30)
            .Where(i => i % 2 == 0 || i % 5 == 0)
            .Select(i => i % 5 == 0 ? Change.Delete(("id", (object?)i), 100 + i) : Change.Update(("id", (object?)i), 100 + i, ("city", "bergen")))
            .ToArray();
        var moved = Enumerable.Range(1, 30).Where(i => i % 2 == 0 && i % 5 != 0).Select(i => ns + "user:" + i).Order(StringComparer.Ordinal).ToArray();
        var stayed = Enumerable.Range(1, 30).Where(i => i % 2 == 1 && i % 5 != 0).Select(i => ns + "user:" + i).Order(StringComparer.Ordinal).ToArray();

        // The injected failure: a user who may write the rows and sync's own keys, but only read the index
        // sets (ACL key permissions, Redis 7: %R~pattern, https://redis.io/docs/latest/operate/oss_and_stack/management/security/acl/#key-permissions),
        // so the rows' scripts succeed and the index update after them is refused (NOPERM): the batch fails
        // where a crash between the two steps would stop it. ACL users are per node, so every node gets it.
        var user = "u" + ns.TrimEnd(':');
        const string password = "index-Secret-7";
        var nodes = t.Reader.GetServers();
        foreach (var node in nodes)
        {
            await node.ExecuteAsync("ACL", "SETUSER", user, "on", ">" + password, "resetkeys", "~" + ns + "sync:*", "~" + ns + "user:*", "%R~" + ns + "by_city:*", "+@all");
        }

        try
        {
            var options = RedisClusterTestServer.Options(ns);
            options.User = user;
            options.Password = password;
            await using (var restricted = await RedisSink.OpenAsync("cache", options, CancellationToken.None))
            {
                var checkpointed = new Dictionary<string, StreamPosition> { [Change.DefaultTopic] = second.Max(c => c.Origin.Position) };
                var failure = await Assert.ThrowsAsync<SinkFatalException>(async () => await restricted.ApplyAsync(new SinkBatch(RedisTestContext.Materializer, t.Target, second, checkpointed), CancellationToken.None));
                Assert.Contains("NOPERM", failure.ToString(), StringComparison.Ordinal);
            }
        }
        finally
        {
            foreach (var node in nodes)
            {
                await node.ExecuteAsync("ACL", "DELUSER", user);
            }
        }

        // The rows moved, the sets did not, the checkpoint stayed, and each moved row records the set it left.
        Assert.Equal(moved.Length + stayed.Length, (await t.RowsAsync()).Count);
        Assert.Equal(30, (await t.MembersAsync(ns + "by_city:oslo")).Length);
        Assert.Empty(await t.MembersAsync(ns + "by_city:bergen"));
        Assert.Equal(checkpoint, await t.Sink.LoadCheckpointAsync(RedisTestContext.Materializer, CancellationToken.None));
        Assert.Equal(moved.Length + 6, (await LeftRecordsAsync(t)).Count);

        var replay = await t.ApplyAsync(second);

        Assert.Equal((moved.Length, 6, 0), (replay.Upserted, replay.Deleted, replay.Stale));
        Assert.Equal(stayed, await t.MembersAsync(ns + "by_city:oslo"));
        Assert.Equal(moved, await t.MembersAsync(ns + "by_city:bergen"));
        Assert.Empty(await LeftRecordsAsync(t));
    }

    [Fact]
    public async Task An_erase_removes_the_subjects_members_from_index_sets_on_every_primary()
    {
        await using var t = await CreateAsync(ns => new RedisTargetOptions { KeyTemplate = ns + "user:{id}", Indexes = [ns + "by_customer:{customer}", ns + "by_city:{city}"] });
        var ns = t.Namespace;
        var changes = Enumerable.Range(1, 60).Select(i => Change.Create(("id", (object?)i), i, ("customer", i % 2 == 0 ? 7L : 8L), ("city", "c" + (i % 10)))).ToArray();
        await t.ApplyAsync(changes);

        var db = t.Db;
        string PrimaryOf(string key) => t.Reader.GetServer(db.IdentifyEndpoint(key)!).EndPoint.ToString()!;
        var citySets = Enumerable.Range(0, 10).Select(c => ns + "by_city:c" + c).ToArray();
        Assert.Equal(3, Enumerable.Range(1, 60).Where(i => i % 2 == 0).Select(i => PrimaryOf(ns + "user:" + i)).Distinct().Count());
        Assert.True(citySets.Select(PrimaryOf).Distinct().Count() > 1);

        Assert.Equal(30, await t.Sink.EraseAsync(t.Target, new SubjectMatch("customer", FieldValue.FromInt64(7)), CancellationToken.None));

        Assert.Empty(await t.MembersAsync(ns + "by_customer:7"));
        Assert.Equal(30, (await t.MembersAsync(ns + "by_customer:8")).Length);
        var left = new List<string>();
        foreach (var set in citySets)
        {
            left.AddRange(await t.MembersAsync(set));
        }

        Assert.Equal(Enumerable.Range(1, 60).Where(i => i % 2 == 1).Select(i => ns + "user:" + i).Order(StringComparer.Ordinal), left.Order(StringComparer.Ordinal));
        Assert.Empty(await LeftRecordsAsync(t));
    }

    [Fact]
    public async Task A_row_whose_index_key_holds_another_type_is_written_and_reported_with_the_reason()
    {
        await using var t = await CreateAsync(ns => new RedisTargetOptions { KeyTemplate = ns + "user:{id}", Indexes = [ns + "by_city:{city}"] });
        await t.Db.StringSetAsync(t.Namespace + "by_city:oslo", "not a set");

        var result = await t.ApplyAsync(Change.Create(("id", 1), 10, ("city", "oslo")), Change.Create(("id", 2), 11, ("city", "bergen")));

        Assert.Equal(2, result.Upserted);
        var rejected = Assert.Single(result.Rejected);
        Assert.Contains($"its index key {t.Namespace}by_city:oslo holds a value that is not a set (WRONGTYPE); the row was written", rejected.Reason, StringComparison.Ordinal);
        Assert.Equal(["city=bergen|id=2", "city=oslo|id=1"], await t.RowsAsync());
        Assert.Equal([t.Namespace + "user:2"], await t.MembersAsync(t.Namespace + "by_city:bergen"));
    }

    /// <summary>The rows' records of index sets they left (<see cref="RedisKeys.LeftIndexes"/>), on every primary.</summary>
    private static async Task<List<string>> LeftRecordsAsync(RedisTestContext t)
    {
        var records = new List<string>();
        foreach (var primary in RedisClusterTestServer.Primaries(t.Reader))
        {
            await foreach (var key in primary.KeysAsync(pattern: RedisKeys.EscapePattern(t.Options.KeyPrefix + "r:") + "*", pageSize: 1000))
            {
                records.Add(key.ToString());
            }
        }

        return records;
    }
}
