namespace Sync.Sinks.Redis;

/// <summary>Snapshot reconciliation of a new source epoch (ISink.ReconcileEpochAsync).</summary>
internal sealed partial class RedisWriter
{
    /// <summary>SCANs the target's version states a page at a time and deletes, through the ordinary
    /// delete path (the Lua compare-and-set), every live row last written from <paramref name="stream"/>
    /// below order <paramref name="epochStart"/>, at <c>epochStart</c>; a change of the new epoch
    /// that lands meanwhile is newer and wins. Returns the rows deleted.</summary>
    public async Task<long> ReconcileEpochAsync(string materializer, TargetSpec spec, string stream, long epochStart)
    {
        var target = Target(spec);
        var none = new Dictionary<string, StreamPosition>();
        long removed = 0;
        var page = new List<string>(ScanPage);
        async Task FlushAsync()
        {
            if (page.Count == 0)
            {
                return;
            }

            var states = page.Select(c => _db.StringGetAsync(_keys.State(target.StateTable, c))).ToArray();
            await Task.WhenAll(states);
            var deletes = new List<ChangeEvent>();
            foreach (var state in states.Select(s => RedisState.TryParse((byte[]?)s.Result)))
            {
                if (state is { Deleted: false, Version.Lsn: { } lsn } && lsn < epochStart && state.Version.Stream == stream)
                {
                    deletes.Add(EpochReconciliation.DeleteOf(state.KeyText, stream, state.Version.Position, epochStart));
                }
            }

            if (deletes.Count > 0)
            {
                removed += (await ApplyAsync(new SinkBatch(materializer, spec, deletes, none))).Deleted;
            }

            page.Clear();
        }

        await foreach (var stateKey in StateKeysAsync(target))
        {
            page.Add(_keys.RowKeyOf(target.StateTable, stateKey.ToString()));
            if (page.Count == ScanPage)
            {
                await FlushAsync();
            }
        }

        await FlushAsync();
        return removed;
    }
}
