namespace Sync.Engine.Changes;

/// <summary>A position in one stream (a topic partition or a changelog file), comparable within it.
/// For Pulsar: ledger, entry and batch index; for a changelog file: ledger 0, entry = line number.</summary>
public readonly record struct StreamPosition(long Ledger, long Entry, int BatchIndex = -1) : IComparable<StreamPosition>
{
    /// <summary>Before every message.</summary>
    public static StreamPosition Start => new(-1, -1, -1);

    public static StreamPosition ForLine(long line) => new(0, line);

    public int CompareTo(StreamPosition other)
    {
        var c = Ledger.CompareTo(other.Ledger);
        if (c != 0)
        {
            return c;
        }

        c = Entry.CompareTo(other.Entry);
        return c != 0 ? c : BatchIndex.CompareTo(other.BatchIndex);
    }

    public static bool operator <(StreamPosition a, StreamPosition b) => a.CompareTo(b) < 0;

    public static bool operator >(StreamPosition a, StreamPosition b) => a.CompareTo(b) > 0;

    public static bool operator <=(StreamPosition a, StreamPosition b) => a.CompareTo(b) <= 0;

    public static bool operator >=(StreamPosition a, StreamPosition b) => a.CompareTo(b) >= 0;

    /// <summary><c>ledger:entry:batch</c>, the form stored in checkpoints.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Ledger}:{Entry}:{BatchIndex}");

    public static StreamPosition Parse(string text)
    {
        var parts = text.Split(':');
        if (parts.Length != 3
            || !long.TryParse(parts[0], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var ledger)
            || !long.TryParse(parts[1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var entry)
            || !int.TryParse(parts[2], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var batch))
        {
            throw new FormatException($"'{text}' is not a stream position (ledger:entry:batch)");
        }

        return new StreamPosition(ledger, entry, batch);
    }
}
