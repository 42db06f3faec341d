using System.Globalization;
using Microsoft.Extensions.Logging;

namespace Sync.Engine.Runtime;

/// <summary>
/// The log lines of a consistency group's relaxed transactions: the first one after a quiet interval is
/// logged at once, the ones after it within <paramref name="interval"/> are summed up in one line per
/// interval (how many parts and changes, by reason, the first and last transaction id). A group whose
/// buffer is too small for the drift between its topics relaxes tens of thousands of parts a minute;
/// one line each drowned the log. The metric <c>consistency.relaxed</c> still counts each part.
/// </summary>
public sealed partial class RelaxedTransactionLog(string group, ILogger logger, TimeProvider time, TimeSpan interval)
{
    /// <summary>How long relaxed parts are summed up before their line is written.</summary>
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(10);

    private readonly SortedDictionary<string, int> _reasons = new(StringComparer.Ordinal);
    private DateTimeOffset? _since;
    private int _parts;
    private long _changes;
    private string? _first;
    private string? _last;

    /// <summary>A transaction, or a part of one, was applied without the rest of it.</summary>
    public void Add(string? transaction, int changes, string reason)
    {
        var now = time.GetUtcNow();
        if (_parts == 0 && (_since is null || now - _since >= interval))
        {
            LogRelaxed(logger, group, transaction ?? "(none)", changes, reason);
            _since = now;
            return;
        }

        _parts++;
        _changes += changes;
        _reasons[reason] = _reasons.GetValueOrDefault(reason) + 1;
        _first ??= transaction ?? "(none)";
        _last = transaction ?? "(none)";
        Tick();
    }

    /// <summary>Writes the summary once its interval has passed (called as the group applies, so that a
    /// summary is not held back when relaxing stops).</summary>
    public void Tick()
    {
        if (_parts > 0 && time.GetUtcNow() - _since >= interval)
        {
            Flush();
        }
    }

    /// <summary>Writes what is summed up now (the group stops).</summary>
    public void Flush()
    {
        if (_parts == 0)
        {
            return;
        }

        var reasons = string.Join(", ", _reasons.Select(r => string.Create(CultureInfo.InvariantCulture, $"{r.Key} {r.Value}")));
        LogSummary(logger, group, _parts, _changes, reasons, _first!, _last!);
        _since = time.GetUtcNow();
        _parts = 0;
        _changes = 0;
        _reasons.Clear();
        _first = null;
        _last = null;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "consistency group {Group}: consistency relaxed for transaction {Transaction}: {Changes} changes applied without the rest of it ({Reason})")]
    private static partial void LogRelaxed(ILogger logger, string group, string transaction, int changes, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "consistency group {Group}: consistency relaxed for {Parts} more transactions or parts ({Changes} changes; {Reasons}), transactions {First} to {Last}")]
    private static partial void LogSummary(ILogger logger, string group, int parts, long changes, string reasons, string first, string last);
}
