using System.Diagnostics.Tracing;

namespace Sync.Bench.EndToEnd;

/// <summary>The runtime's own allocation sampling (GCAllocationTick: one event per ~100 KB
/// allocated, naming the type whose allocation crossed the mark), summed by type: which types
/// make up the bytes allocated per event. Opt-in (SYNC_BENCH_ALLOCATIONS=1), printed to stderr.</summary>
internal sealed class AllocationTicks : EventListener
{
    private const EventKeywords GcKeyword = (EventKeywords)0x1;
    private readonly Dictionary<string, long> _bytesByType = new(StringComparer.Ordinal);
    private long _total;

    public static AllocationTicks? StartIfAsked() =>
        Environment.GetEnvironmentVariable("SYNC_BENCH_ALLOCATIONS") == "1" ? new AllocationTicks() : null;

    protected override void OnEventSourceCreated(EventSource eventSource)
    {
        if (eventSource.Name == "Microsoft-Windows-DotNETRuntime")
        {
            EnableEvents(eventSource, EventLevel.Verbose, GcKeyword);
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs eventData)
    {
        // GCAllocationTick_V4 and later: AllocationAmount64 and TypeName.
        if (eventData.EventId != 10 || eventData.Payload is null || eventData.PayloadNames is null)
        {
            return;
        }

        var amount = eventData.PayloadNames.IndexOf("AllocationAmount64") is var a and >= 0 ? Convert.ToInt64(eventData.Payload[a], System.Globalization.CultureInfo.InvariantCulture) : 0;
        var type = eventData.PayloadNames.IndexOf("TypeName") is var t and >= 0 ? eventData.Payload[t] as string ?? "?" : "?";
        lock (_bytesByType)
        {
            _bytesByType[type] = _bytesByType.GetValueOrDefault(type) + amount;
            _total += amount;
        }
    }

    /// <summary>The types with the largest shares, as lines of text.</summary>
    public void Report(TextWriter to, int top = 25)
    {
        lock (_bytesByType)
        {
            to.WriteLine($"allocations sampled: {_total / 1e6:N0} MB");
            foreach (var (type, bytes) in _bytesByType.OrderByDescending(p => p.Value).Take(top))
            {
                to.WriteLine($"  {100.0 * bytes / Math.Max(1, _total),5:0.0} %  {type}");
            }
        }
    }
}
