namespace Sync.Testing.Pulsar;

// Retention and truncation: what deletes data from the raw log.
//
// Granularity: as in the broker, data goes away in whole ledgers, never entry by entry. Only
// closed ledgers that every durable cursor has consumed can go (the subscriptions' mark-delete
// positions and, once compaction ran, the compactor's cursor at the compaction horizon); the
// ledger being written always stays. Non-durable readers do not hold data back. The fake trims
// when asked (FakePulsarBroker.EnforceRetention, standing in for the broker's periodic
// retention check and the trim after a ledger rollover) and judges time by its clock, so tests
// control both instead of sleeping.
public sealed partial class FakeTopic
{
    /// <summary>
    /// Deletes consumed ledgers the policy no longer keeps, oldest first, as
    /// ManagedLedgerImpl.internalTrimLedgers does: a ledger goes when its retention time has
    /// passed since it was closed, or when the retained size exceeds the size limit (-1 is
    /// unlimited, 0 keeps nothing once consumed); the first ledger that stays stops the trim.
    /// Returns the number of ledgers deleted.
    /// </summary>
    internal int EnforceRetentionLocked(RetentionBody policy)
    {
        var now = _broker.Clock.GetUtcNow();
        var consumedBefore = SlowestDurableCursorLocked();
        var retainedBytes = _ledgers.Sum(l => l.Size);
        var deleted = 0;
        while (_ledgers.Count > 1)
        {
            var oldest = _ledgers[0];
            if (oldest.EndEntry > consumedBefore)
            {
                break;
            }
            var expired = policy.RetentionTimeInMinutes >= 0
                && (policy.RetentionTimeInMinutes == 0 || now - oldest.Closed!.Value > TimeSpan.FromMinutes(policy.RetentionTimeInMinutes));
            var overQuota = policy.RetentionSizeInMB >= 0 && retainedBytes > policy.RetentionSizeInMB * 1024 * 1024;
            if (!expired && !overQuota)
            {
                break;
            }
            retainedBytes -= oldest.Size;
            DeleteOldestLedgerLocked();
            deleted++;
        }
        return deleted;
    }

    /// <summary>
    /// Truncate: every cursor moves to the end, then every ledger but the one being written is
    /// deleted whatever the retention (ManagedLedgerImpl.asyncTruncate).
    /// </summary>
    internal void TruncateLocked()
    {
        if (EndLocked > 0)
        {
            foreach (var subscription in Subscriptions.Values)
            {
                subscription.AckCumulativeLocked(EndLocked - 1);
            }
        }
        while (_ledgers.Count > 1)
        {
            DeleteOldestLedgerLocked();
        }
    }

    /// <summary>Every entry below this position is consumed by every durable cursor.</summary>
    private ulong SlowestDurableCursorLocked()
    {
        var slowest = EndLocked;
        foreach (var subscription in Subscriptions.Values.Where(s => s.IsDurable))
        {
            slowest = Math.Min(slowest, subscription.AckedBefore);
        }
        if (CompactionHorizon is { } horizon)
        {
            // The compactor reads through a durable cursor of its own (__compaction).
            slowest = Math.Min(slowest, horizon + 1);
        }
        return slowest;
    }

    private void DeleteOldestLedgerLocked()
    {
        var oldest = _ledgers[0];
        for (var position = oldest.FirstEntry; position < oldest.EndEntry; position++)
        {
            _entries[(int)position] = null;
        }
        _ledgers.RemoveAt(0);
    }
}
