using Microsoft.Extensions.Logging;
using Sync.Testing.Logging;
using Sync.Testing.Pulsar;

namespace Sync.Engine.Tests.Runtime;

/// <summary>A consistency group that relaxes many transactions writes one line for the first and then one
/// summary per interval, not one line per part.</summary>
public class RelaxedTransactionLogTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);
    private readonly ManualTimeProvider _time = new(new DateTimeOffset(2026, 12, 7, 3, 0, 0, TimeSpan.Zero));
    private readonly RecordingLoggerFactory _logs = new();

    private RelaxedTransactionLog Log() => new("bank", _logs.CreateLogger("group"), _time, Interval);

    private IReadOnlyList<string> Lines => [.. _logs.Entries.Where(e => e.Level == LogLevel.Warning).Select(e => e.Message)];

    [Fact]
    public void Many_parts_within_an_interval_give_the_first_line_and_one_summary()
    {
        var log = Log();
        for (var i = 1; i <= 1000; i++)
        {
            log.Add($"tx{i}", 3, i % 10 == 0 ? "missing-end" : "oversized");
            _time.Advance(TimeSpan.FromMilliseconds(5));
        }

        Assert.Single(Lines);
        Assert.Contains("transaction tx1: 3 changes", Lines[0], StringComparison.Ordinal);

        _time.Advance(Interval);
        log.Tick();

        Assert.Equal(2, Lines.Count);
        Assert.Equal("consistency group bank: consistency relaxed for 999 more transactions or parts (2997 changes; missing-end 100, oversized 899), transactions tx2 to tx1000", Lines[1]);
    }

    [Fact]
    public void Relaxing_that_goes_on_writes_one_summary_per_interval()
    {
        var log = Log();
        for (var i = 1; i <= 10_000; i++)
        {
            log.Add($"tx{i}", 1, "oversized");
            _time.Advance(TimeSpan.FromMilliseconds(10));
        }

        // 100 s of relaxing at 10 s per line: the first line and about one summary per interval.
        Assert.InRange(Lines.Count, 10, 12);
        log.Flush();
        var summed = Lines.Skip(1).Sum(line => int.Parse(line.Split(" more ")[0].Split(' ')[^1], CultureInfo.InvariantCulture));
        Assert.Equal(9_999, summed);
    }

    [Fact]
    public void A_part_after_a_quiet_interval_is_logged_at_once()
    {
        var log = Log();
        log.Add("tx1", 2, "timeout");
        log.Add("tx2", 2, "timeout");
        log.Flush();
        _time.Advance(Interval);

        log.Add("tx3", 5, "missing-end");

        Assert.Equal(3, Lines.Count);
        Assert.Contains("transaction tx3: 5 changes applied without the rest of it (missing-end)", Lines[2], StringComparison.Ordinal);
    }

    [Fact]
    public void Nothing_summed_up_writes_nothing()
    {
        var log = Log();
        log.Add("tx1", 2, "timeout");
        _time.Advance(Interval * 3);
        log.Tick();
        log.Flush();

        Assert.Single(Lines);
    }
}
