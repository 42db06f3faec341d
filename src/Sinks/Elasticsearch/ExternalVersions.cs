namespace Sync.Sinks.Elasticsearch;

/// <summary>
/// The external version (a non-negative 64-bit number, compared by Elasticsearch) of a change:
/// <list type="bullet">
/// <item>With a source LSN: <c>2^62 + LSN</c>. LSNs order changes across topics, as ChangeVersion does.</item>
/// <item>Without one (a Debezium Server tombstone that did not inherit the LSN of the delete before it in
/// its batch, or the <c>json</c> format): the stream position packed below 2^62 —
/// <c>ledger · 2^36 + entry · 2^12 + (batchIndex + 1)</c>, with ledger &lt; 2^26, entry &lt; 2^24 and
/// batch index &lt; 4095. A change whose position does not fit is rejected with the reason.</item>
/// </list>
/// Every LSN-less version is therefore lower than every LSN version. That is what makes a tombstone that
/// follows its delete order correctly without the sink reading anything back: the delete (LSN L) left a
/// tombstone at version 2^62 + L; the LSN-less tombstone after it conflicts with that and is counted as
/// stale — the document stays deleted at version L, exactly the state ChangeVersion's rule gives (a change
/// without an LSN keeps the stored LSN). A redelivered LSN-less tombstone after a newer create (LSN &gt; L)
/// is stale too, as it must be. Positions order LSN-less changes among themselves (within one stream; a
/// key fed by several LSN-less streams is ordered by position across them, where ChangeVersion would let
/// the later arrival win). The one case this cannot order is an LSN-less change meeting LSN state of the
/// same key that it should supersede, which Debezium never produces: its tombstone always follows a delete
/// that carries the LSN. Erasure markers are <see cref="Erased"/>, above both bands.
/// </summary>
public static class ExternalVersions
{
    /// <summary>The first version of the LSN band.</summary>
    public const long LsnBase = 1L << 62;

    /// <summary>The erasure marker (ChangeVersion.Erased): the highest external version, above every
    /// version a change can have (LSNs stop one short of it), so that neither a replay nor a newer change
    /// still in flight brings an erased document back — for as long as Elasticsearch keeps the tombstone
    /// (<c>index.gc_deletes</c>); the suppression ledger covers replays after that.</summary>
    public const long Erased = long.MaxValue;

    public const int LedgerBits = 26;
    public const int EntryBits = 24;
    public const int BatchBits = 12;

    /// <summary>The external version of <paramref name="version"/>, or null with the reason when it cannot be encoded.</summary>
    public static long? Encode(ChangeVersion version, out string? problem)
    {
        problem = null;
        if (version.Lsn is { } lsn)
        {
            if (lsn is < 0 or >= LsnBase - 1)
            {
                problem = string.Create(CultureInfo.InvariantCulture, $"the source LSN {lsn} is outside 0..2^62-2 and cannot be an external version");
                return null;
            }

            return LsnBase + lsn;
        }

        var p = version.Position;
        if (p.Ledger is < 0 or >= 1L << LedgerBits || p.Entry is < 0 or >= 1L << EntryBits || p.BatchIndex < -1 || p.BatchIndex >= (1 << BatchBits) - 1)
        {
            problem = string.Create(CultureInfo.InvariantCulture,
                $"the change has no LSN and its position {p} does not fit an external version (ledger < 2^{LedgerBits}, entry < 2^{EntryBits}, batch index < {(1 << BatchBits) - 1})");
            return null;
        }

        return (p.Ledger << (EntryBits + BatchBits)) | (p.Entry << BatchBits) | (long)(p.BatchIndex + 1);
    }
}
