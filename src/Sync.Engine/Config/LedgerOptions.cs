using System.ComponentModel;
using System.Text.RegularExpressions;

namespace Sync.Engine.Config;

/// <summary>The kinds of suppression ledger.</summary>
public enum LedgerKind
{
    /// <summary>A SQLite file on this machine: one machine, or one ledger file all runs share.</summary>
    File,

    /// <summary>Tables in a PostgreSQL database named by a postgres sink: every process of a fleet reads it, and hears of new entries by LISTEN/NOTIFY.</summary>
    Postgres,

    /// <summary>A compacted Pulsar topic on a pulsar source's cluster, which every process reads from the start and tails.</summary>
    Topic,
}

/// <summary>Where the suppression ledger lives (<c>erasure.ledger</c>). A plain value is a file path,
/// as before: <c>ledger: /var/lib/sync/ledger.db</c>.</summary>
[ScalarShorthand(nameof(File))]
public sealed partial class LedgerOptions : IValidatable
{
    [FilePath]
    [Description("The ledger as a SQLite file on this machine. Default `sync-ledger.db` next to the config.")]
    public string? File { get; set; }

    [Description("The ledger in the PostgreSQL database of this postgres sink (declared under `sinks`; it need not be written by any materializer): shared by every process of a fleet.")]
    public string? Postgres { get; set; }

    [Description("Schema of the ledger's tables in the `postgres` ledger's database.")]
    public string Schema { get; set; } = "sync_ledger";

    [Description("The ledger as a compacted Pulsar topic (e.g. `persistent://public/default/sync-erasure-ledger`), on the cluster of `source`: shared by every process of a fleet.")]
    public string? Topic { get; set; }

    [Description("The pulsar source whose cluster holds the `topic` ledger. Default: the config's only pulsar source.")]
    public string? Source { get; set; }

    /// <summary>The kind the settings name (<see cref="Validate"/> reports more than one).</summary>
    public LedgerKind Kind => Postgres is not null ? LedgerKind.Postgres : Topic is not null ? LedgerKind.Topic : LedgerKind.File;

    public IReadOnlyList<string> Validate(string path)
    {
        var problems = new List<string>();
        var named = new (string Key, string? Value)[] { ("file", File), ("postgres", Postgres), ("topic", Topic) }.Where(k => k.Value is not null).Select(k => $"{path}.{k.Key} ({k.Value})").ToList();
        if (named.Count > 1)
        {
            problems.Add($"{named[^1]} cannot be set with {string.Join(" and ", named[..^1])}: a ledger is one of file, postgres or topic");
        }

        if (Source is not null && Topic is null)
        {
            problems.Add($"{path}.source ({Source}) is only used with {path}.topic");
        }

        if (!PlainIdentifier().IsMatch(Schema))
        {
            problems.Add($"{path}.schema ({Schema}) must be a plain identifier: a letter or _, then letters, digits or _, at most 63 characters");
        }

        return problems;
    }

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]{0,62}$")]
    private static partial Regex PlainIdentifier();
}
