namespace Sync.Engine.Runtime;

/// <summary>Capped exponential backoff for a loop that waits between attempts: the delay starts at
/// <see cref="First"/> and doubles after each wait, up to <see cref="Max"/>. One instance per loop;
/// not thread-safe.</summary>
public sealed class Backoff
{
    public Backoff(TimeSpan first, TimeSpan max)
    {
        First = first;
        Max = max;
        Delay = first;
    }

    public TimeSpan First { get; }

    public TimeSpan Max { get; }

    /// <summary>The delay of the next wait.</summary>
    public TimeSpan Delay { get; private set; }

    /// <summary><see cref="Delay"/> plus up to a quarter of it at random (whole milliseconds), so
    /// that many processes that failed together do not all retry at the same moment.</summary>
    public TimeSpan Jittered(Random? random = null) =>
        Delay + TimeSpan.FromMilliseconds((random ?? Random.Shared).Next(0, (int)(Delay.TotalMilliseconds / 4) + 1));

    /// <summary>Doubles <see cref="Delay"/>, up to <see cref="Max"/>; called after a wait.</summary>
    public void Increase() => Delay = TimeSpan.FromTicks(Math.Min(Delay.Ticks * 2, Max.Ticks));

    /// <summary>Back to <see cref="First"/>, after an attempt succeeded.</summary>
    public void Reset() => Delay = First;
}
