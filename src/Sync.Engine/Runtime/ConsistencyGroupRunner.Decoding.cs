using System.Runtime.ExceptionServices;

namespace Sync.Engine.Runtime;

/// <summary>The decoding stage of a consistency group: each read's records are routed and decoded by
/// their members on the read's own task, each member's records on a task of their own, so that with
/// read-ahead the next batch is decoded while the sink applies the last one (four lone materializers
/// decode on four threads; a group that decoded on its accepting thread did it between applies).
/// Everything that depends on the group's state (what the sink holds, epochs, suppression, the
/// assembler) stays on the accepting thread, in <see cref="Accept"/>.</summary>
public sealed partial class ConsistencyGroupRunner
{
    /// <summary>A record read, with its route and, for a change, each reading member's decoding of it
    /// (in the order of <see cref="TopicRoute.Members"/>).</summary>
    private readonly record struct ReadRecord(SourceRecord Record, TopicRoute? Route, Decoding[]? Decodings);

    /// <summary>A member's decoding of a message: the change, or what the decoder or mapper threw.</summary>
    private readonly record struct Decoding(ChangeEvent? Change, Exception? Failure);

    /// <summary>Reads a batch and decodes it; null when the source ended.</summary>
    private async Task<IReadOnlyList<ReadRecord>?> ReadDecodedAsync(CancellationToken cancellationToken)
    {
        var records = await _reader.ReadBatchAsync(_readBatch, _linger, cancellationToken);
        return records is null ? null : Decode(records);
    }

    /// <summary>Routes every record (on this thread: the routes are worked out once per stream) and
    /// decodes each member's changes in order, the members in parallel. A member's decoder caches
    /// schemas and is not made for two threads: only one task uses it at a time, since one read is
    /// decoded at a time.</summary>
    private ReadRecord[] Decode(IReadOnlyList<SourceRecord> records)
    {
        var read = new ReadRecord[records.Count];
        var work = new List<(int Record, int Slot)>?[_members.Count];
        for (var i = 0; i < records.Count; i++)
        {
            var record = records[i];
            if (record.Message is not { } message)
            {
                read[i] = new ReadRecord(record, null, null);
                continue;
            }

            var route = RouteOf(message.Topic);
            if (route.IsTransactionTopic || route.Members.Length == 0)
            {
                read[i] = new ReadRecord(record, route, null);
                continue;
            }

            read[i] = new ReadRecord(record, route, new Decoding[route.Members.Length]);
            for (var slot = 0; slot < route.Members.Length; slot++)
            {
                (work[route.Members[slot]] ??= []).Add((i, slot));
            }
        }

        var busy = work.Count(w => w is not null);
        if (busy <= 1)
        {
            for (var m = 0; m < work.Length; m++)
            {
                DecodeFor(m, work[m], read);
            }
        }
        else
        {
            Parallel.For(0, work.Length, m => DecodeFor(m, work[m], read));
        }

        return read;
    }

    private void DecodeFor(int member, List<(int Record, int Slot)>? work, ReadRecord[] read)
    {
        if (work is null)
        {
            return;
        }

        var reading = _members[member].Reading;
        foreach (var (record, slot) in work)
        {
            var entry = read[record];
            try
            {
                entry.Decodings![slot] = new Decoding(reading.Decode(entry.Record.Message!), null);
            }
            catch (Exception e)
            {
                // Thrown again, in order, when the record is accepted: decode and map failures are
                // dead-lettered or skipped there, anything else ends the run as it did before.
                entry.Decodings![slot] = new Decoding(null, e);
            }
        }
    }

    /// <summary>The member's change, or the decode or map failure the accepting thread handles;
    /// anything else is thrown as it was thrown.</summary>
    private static ChangeEvent ChangeOf(Decoding decoding)
    {
        if (decoding.Failure is { } failure)
        {
            ExceptionDispatchInfo.Throw(failure);
        }

        return decoding.Change!;
    }
}
