using System.Threading.Channels;

namespace Sync.Engine.Tests.Sources.Pulsar;

/// <summary>A fake clock that reports the length of every wait started on it (a timer with a due
/// time), so that a test knows a wait began before it moves the clock.</summary>
internal sealed class WaitReportingClock : FakeTimeProvider
{
    private readonly Channel<TimeSpan> _waits = Channel.CreateUnbounded<TimeSpan>();

    public ValueTask<TimeSpan> NextWaitAsync(CancellationToken cancellationToken) => _waits.Reader.ReadAsync(cancellationToken);

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = base.CreateTimer(callback, state, dueTime, period);
        if (dueTime > TimeSpan.Zero && dueTime != Timeout.InfiniteTimeSpan)
        {
            _waits.Writer.TryWrite(dueTime);
        }

        return timer;
    }
}
