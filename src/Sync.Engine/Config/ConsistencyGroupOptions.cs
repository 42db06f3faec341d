using System.ComponentModel;
using System.ComponentModel.DataAnnotations;

namespace Sync.Engine.Config;

/// <summary>A consistency group (<c>consistency.&lt;name&gt;</c>): materializers that write into one
/// PostgreSQL or SQLite sink and apply each source transaction whole, in commit order, with every
/// member's checkpoint in the same sink transaction (Runtime.ConsistencyGroupRunner).</summary>
public sealed class ConsistencyGroupOptions : IValidatable
{
    public const int MaxTransactionChangesLimit = 10_000_000;

    [Required]
    [Description("The connector's transaction topic (`<prefix>.transaction`, BEGIN and END records; Debezium's `provide.transaction.metadata=true`), as a full topic name on the members' source.")]
    public string Transactions { get; set; } = string.Empty;

    [Required]
    [Description("The materializers of the group (names under `materializers`): one source, one sink of type postgres or sqlite, ordered subscriptions; a materializer belongs to one group at most.")]
    public List<string> Materializers { get; set; } = [];

    [Description("The most changes of one source transaction held in memory; a larger transaction is applied in parts of this size, in order, and counted as relaxed (its readers may see part of it).")]
    public int MaxTransactionChanges { get; set; } = 10_000;

    [Description("How long an incomplete transaction may wait for its BEGIN, its END or its changes before it is applied as it stands (relaxed), counted only while the group has read everything on the transaction topic (a group behind on it waits for the records still to read); a transaction whose BEGIN was read and that has no END is applied as it stands at once when the next BEGIN came and a later transaction is complete.")]
    public TimeSpan EndTimeout { get; set; } = TimeSpan.FromSeconds(30);

    public IReadOnlyList<string> Validate(string path)
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(Transactions) && Transactions.Length > 0)
        {
            problems.Add($"{path}.transactions must name a topic");
        }

        if (Materializers.Count == 0)
        {
            problems.Add($"{path}.materializers must name at least one materializer");
        }

        foreach (var repeated in Materializers.GroupBy(m => m, StringComparer.Ordinal).Where(g => g.Count() > 1))
        {
            problems.Add($"{path}.materializers names {repeated.Key} more than once");
        }

        problems.MustBeBetween($"{path}.maxTransactionChanges", MaxTransactionChanges, 1, MaxTransactionChangesLimit);
        problems.MustBeBetween($"{path}.endTimeout", EndTimeout, TimeSpan.FromMilliseconds(1), TimeSpan.FromHours(24));
        return problems;
    }
}
