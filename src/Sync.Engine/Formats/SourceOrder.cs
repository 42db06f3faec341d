using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Sync.Engine.Formats;

/// <summary>The coordinates a Debezium <c>source</c> block gives for where a change sits in its
/// database's log, as read from the message (null: the field was absent or null).</summary>
internal struct SourceCoordinates
{
    public string? Connector;

    /// <summary>PostgreSQL <c>lsn</c> (int64).</summary>
    public long? Lsn;

    /// <summary>MySQL/MariaDB <c>file</c>, <c>pos</c>, <c>row</c>.</summary>
    public string? File;
    public long? Pos;
    public long? Row;

    /// <summary>SQL Server and Db2 <c>commit_lsn</c>, <c>change_lsn</c> (hex text).</summary>
    public string? CommitLsn;
    public string? ChangeLsn;

    /// <summary>Oracle <c>scn</c>, <c>commit_scn</c> (decimal text).</summary>
    public string? Scn;
    public string? CommitScn;

    /// <summary>The source-block fields <see cref="Accept"/> takes.</summary>
    public static readonly string[] Names = ["lsn", "file", "pos", "row", "commit_lsn", "change_lsn", "scn", "commit_scn"];

    /// <summary>Whether any field that orders changes was present.</summary>
    public readonly bool Any => Lsn is not null || File is not null || CommitLsn is not null || ChangeLsn is not null || Scn is not null || CommitScn is not null;

    /// <summary>Takes one source-block property when it is a coordinate; false for any other name.
    /// A value of an unexpected JSON kind is taken as absent (the order then says so).</summary>
    public bool Accept(string name, JsonElement value)
    {
        switch (name)
        {
            case "lsn": Lsn = Int64(value); return true;
            case "file": File = Text(value); return true;
            case "pos": Pos = Int64(value); return true;
            case "row": Row = Int64(value); return true;
            case "commit_lsn": CommitLsn = Text(value); return true;
            case "change_lsn": ChangeLsn = Text(value); return true;
            case "scn": Scn = Text(value); return true;
            case "commit_scn": CommitScn = Text(value); return true;
            default: return false;
        }
    }

    private static long? Int64(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Number when e.TryGetInt64(out var n) => n,
        JsonValueKind.String when long.TryParse(e.GetString(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) => n,
        _ => null,
    };

    private static string? Text(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => e.GetString(),
        JsonValueKind.Number => e.GetRawText(),
        _ => null,
    };
}

/// <summary>One 64-bit, non-negative order per change from its connector's <c>source</c> block, in
/// one place for every relational connector: never-regress compares it (<see
/// cref="Changes.ChangeVersion.Lsn"/>), every sink stores it as a 64-bit number, and Elasticsearch
/// uses it as the external version, which must be a non-negative long. Within one source database
/// it preserves the connector's own order; orders of two source databases do not compare.
/// A coordinate outside the documented range gives no order (the change falls back to its stream
/// position), is counted in <see cref="Unorderable"/> and logged once per reason — never a wrong order.
/// See docs/architecture.md, "Source versions", for the table of connectors and bit layouts.</summary>
public static class SourceOrder
{
    /// <summary>MySQL/MariaDB: binlog file index (the digits after the last '.' of <c>file</c>) in bits 62..45.</summary>
    public const int MySqlFileBits = 18;

    /// <summary>MySQL/MariaDB: <c>pos</c>, the event's byte offset in its file, in bits 44..13. A binlog
    /// event header stores the position in 4 bytes, and <c>max_binlog_size</c> is at most 1 GiB.</summary>
    public const int MySqlPosBits = 32;

    /// <summary>MySQL/MariaDB: <c>row</c>, the row's index within its binlog event, in bits 12..0.</summary>
    public const int MySqlRowBits = 13;

    /// <summary>SQL Server: the VLF sequence number (first part of <c>commit_lsn</c>) in bits 62..35.</summary>
    public const int SqlServerVlfBits = 28;

    /// <summary>SQL Server: the log block offset within the VLF, in 512-byte units (second part), in bits 34..12: VLFs up to 4 GiB.</summary>
    public const int SqlServerBlockBits = 23;

    /// <summary>SQL Server: the slot (log record) in its block (third part) in bits 11..0. A log block holds at most 60 KiB.</summary>
    public const int SqlServerSlotBits = 12;

    private static readonly System.Buffers.SearchValues<char> HexDigits = System.Buffers.SearchValues.Create("0123456789abcdefABCDEF");

    private static readonly Meter Meter = new("Sync");
    private static readonly Counter<long> UnorderableCounter =
        Meter.CreateCounter<long>("source_order.unorderable", description: "Changes whose source coordinates do not fit the 64-bit order; they fall back to their stream position.");

    private static readonly ConcurrentDictionary<string, bool> Logged = new(StringComparer.Ordinal);
    private static long _unorderable;

    /// <summary>How many changes in this process had coordinates that did not fit the order.</summary>
    public static long Unorderable => Interlocked.Read(ref _unorderable);

    /// <summary>Raised once per distinct reason (connector and field) with a warning text; the
    /// message is also written to <see cref="Trace"/>.</summary>
    public static event Action<string>? Warning;

    /// <summary>The order of PostgreSQL's <c>lsn</c>: the LSN itself (pg_lsn is an unsigned 64-bit position; one at or above 2^63 does not fit).</summary>
    public static long? PostgreSql(long lsn) => lsn >= 0 ? lsn : Unfit("postgresql", "lsn", "is above 2^63 - 1");

    /// <summary>The order of MySQL/MariaDB binlog coordinates: (file index, pos, row) packed as
    /// index &lt;&lt; 45 | pos &lt;&lt; 13 | row.</summary>
    public static long? MySql(string file, long pos, long row, string connector = "mysql")
    {
        var dot = file.LastIndexOf('.');
        var suffix = dot >= 0 ? file.AsSpan(dot + 1) : ReadOnlySpan<char>.Empty;
        long index = 0;
        if (suffix.IsEmpty || suffix.ContainsAnyExceptInRange('0', '9') || suffix.Length > 10
            || !long.TryParse(suffix, NumberStyles.None, CultureInfo.InvariantCulture, out index))
        {
            return Unfit(connector, "file", "has no numeric index after its last '.'");
        }

        if (index >= 1L << MySqlFileBits)
        {
            return Unfit(connector, "file", $"index is {1L << MySqlFileBits} or more");
        }

        if (pos < 0 || pos >= 1L << MySqlPosBits)
        {
            return Unfit(connector, "pos", "is outside 0..2^32 - 1");
        }

        if (row < 0 || row >= 1L << MySqlRowBits)
        {
            return Unfit(connector, "row", $"is outside 0..{(1 << MySqlRowBits) - 1}");
        }

        return (index << (MySqlPosBits + MySqlRowBits)) | (pos << MySqlRowBits) | row;
    }

    /// <summary>The order of a SQL Server LSN (<c>VLF:block:slot</c>, 8:8:4 hex digits, 80 bits)
    /// packed as VLF &lt;&lt; 35 | block &lt;&lt; 12 | slot.</summary>
    public static long? SqlServer(string lsn, string field = "commit_lsn")
    {
        var parts = lsn.Split(':');
        if (parts.Length != 3
            || !ulong.TryParse(parts[0], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var vlf)
            || !ulong.TryParse(parts[1], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var block)
            || !ulong.TryParse(parts[2], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var slot)
            || parts[0].Length > 8 || parts[1].Length > 8 || parts[2].Length > 4)
        {
            return Unfit("sqlserver", field, "is not an LSN of the form 00000027:00000758:0005");
        }

        if (vlf >= 1UL << SqlServerVlfBits)
        {
            return Unfit("sqlserver", field, $"VLF sequence number is 2^{SqlServerVlfBits} or more");
        }

        if (block >= 1UL << SqlServerBlockBits)
        {
            return Unfit("sqlserver", field, $"log block offset is 2^{SqlServerBlockBits} or more (a VLF above 4 GiB)");
        }

        if (slot >= 1UL << SqlServerSlotBits)
        {
            return Unfit("sqlserver", field, $"slot number is 2^{SqlServerSlotBits} or more");
        }

        return (long)((vlf << (SqlServerBlockBits + SqlServerSlotBits)) | (block << SqlServerSlotBits) | slot);
    }

    /// <summary>The order of a Db2 LSN as Debezium's Db2 connector writes it (the hex of the LSN bytes,
    /// with ':' after the 4th and 8th byte): the bytes read as one unsigned big-endian number, which
    /// orders exactly as Debezium's byte-wise comparison; it fits while it is below 2^63.</summary>
    public static long? Db2(string lsn, string field = "commit_lsn")
    {
        var hex = lsn.Replace(":", string.Empty, StringComparison.Ordinal);
        if (hex.Length == 0 || hex.Length % 2 != 0 || hex.AsSpan().ContainsAnyExcept(HexDigits))
        {
            return Unfit("db2", field, "is not hex text");
        }

        var significant = hex.AsSpan().TrimStart('0');
        if (significant.Length > 16)
        {
            return Unfit("db2", field, "is 2^63 or more");
        }

        var value = significant.IsEmpty ? 0UL : ulong.Parse(significant, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
        return value <= long.MaxValue ? (long)value : Unfit("db2", field, "is 2^63 or more");
    }

    /// <summary>The order of an Oracle SCN (decimal text): the SCN itself, up to 2^63 - 1.</summary>
    public static long? Oracle(string scn, string field = "commit_scn") =>
        long.TryParse(scn, NumberStyles.None, CultureInfo.InvariantCulture, out var value)
            ? value
            : Unfit("oracle", field, "is not a decimal SCN below 2^63");

    /// <summary>The order of a change from its source block's coordinates, by connector:
    /// PostgreSQL <c>lsn</c>; MySQL/MariaDB <c>file</c>, <c>pos</c>, <c>row</c>; SQL Server
    /// <c>commit_lsn</c>; Db2 <c>commit_lsn</c>; Oracle <c>commit_scn</c>, else <c>scn</c>.
    /// Null when the block carries none of them or they do not fit.</summary>
    internal static long? Of(in SourceCoordinates c)
    {
        if (c.Lsn is { } lsn)
        {
            return PostgreSql(lsn);
        }

        if (c.File is { } file)
        {
            return c.Pos is { } pos ? MySql(file, pos, c.Row ?? 0, c.Connector ?? "mysql") : Unfit(c.Connector ?? "mysql", "pos", "is missing");
        }

        // A snapshot event has no change_lsn; its commit_lsn is the LSN the snapshot was taken at,
        // and every streamed change of a later transaction commits after it.
        if (c.CommitLsn is { } commitLsn)
        {
            return string.Equals(c.Connector, "db2", StringComparison.Ordinal) ? Db2(commitLsn) : SqlServer(commitLsn);
        }

        if (c.CommitScn is { } commitScn)
        {
            return Oracle(commitScn);
        }

        // Oracle snapshot events carry scn (the snapshot's) without commit_scn.
        return c.Scn is { } scn ? Oracle(scn, "scn") : null;
    }

    private static long? Unfit(string connector, string field, string why)
    {
        Interlocked.Increment(ref _unorderable);
        UnorderableCounter.Add(1);
        var reason = $"{connector} {field} {why}";
        if (Logged.TryAdd(reason, true))
        {
            var message = $"source order: a {connector} change's {field} {why}; such changes have no source version and are ordered by their stream position only (docs/architecture.md, \"Source versions\")";
            Trace.TraceWarning(message);
            Warning?.Invoke(message);
        }

        return null;
    }
}
