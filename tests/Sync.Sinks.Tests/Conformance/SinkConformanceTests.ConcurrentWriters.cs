namespace Sync.Sinks.Tests.Conformance;

public abstract partial class SinkConformanceTests
{
    /// <summary>Two instances of the sink on the same data, each key's changes in opposite orders
    /// (<see cref="ConflictingOrders"/>): only the sink's version check decides, and it must leave every
    /// key at its newest version. Why each sink's check holds under a second writer is said at its
    /// harness's <see cref="ISinkHarness.OpenAnotherAsync"/>.</summary>
    [Fact]
    public async Task Two_sinks_writing_conflicting_versions_of_the_same_keys_at_once_end_at_the_newest()
    {
        await using var h = await CreateHarnessAsync();
        await using var other = await h.OpenAnotherAsync();
        var t = h.Target("users");

        await ConflictingOrders.RunAsync(h.Sink, other, t, Materializer);

        Assert.Equal([.. ConflictingOrders.Survivors.Select(id => $"id={id}|name=final").Order(StringComparer.Ordinal)], await h.ReadAsync(t));
    }
}
