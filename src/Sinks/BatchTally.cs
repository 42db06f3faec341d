namespace Sync.Sinks;

/// <summary>What a writer counts while it applies one batch, and the <see cref="ApplyResult"/> it
/// reports at the end.</summary>
internal class BatchTally
{
    public int Upserted { get; set; }

    public int Deleted { get; set; }

    public int Stale { get; set; }

    /// <summary>Upserts with a column the source did not send that found no stored value to keep.</summary>
    public int Unavailable { get; set; }

    public List<RejectedChange> Rejected { get; } = [];

    public void Reject(ChangeEvent change, string reason) => Rejected.Add(new RejectedChange(change, reason));

    public ApplyResult ToResult() => new(Upserted, Deleted, Stale, Rejected) { Unavailable = Unavailable };
}
