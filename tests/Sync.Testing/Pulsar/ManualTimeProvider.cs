namespace Sync.Testing.Pulsar;

/// <summary>A clock that moves only when a test says so, for retention and other time rules of the fake.</summary>
public sealed class ManualTimeProvider(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset _now = start;

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}
